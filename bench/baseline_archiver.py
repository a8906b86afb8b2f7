#!/usr/bin/env python3
"""The plan's archiver (ram-hot-storage-plan.md, TASK 3), as the baseline of benchmarks 1 and 2.

Kept as written in the plan: every ARCHIVE_INTERVAL (5 s) seconds, per device and kind, glob the hot
folder, sort by mtime, ``shutil.move`` everything beyond the limit into ``<kind>/<hour of mtime>/``,
logging to a file and to stderr. Only the constants became arguments (base path, devices, log file)
so the bench can point it at its own tree; the algorithm and its costs are unchanged.

    baseline_archiver.py BASE LOGFILE DEVICE...
"""
import logging
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

HOT_LIMIT = 100
SEGMENT_LIMIT = 10
ARCHIVE_INTERVAL = 5
BASE_PATH = sys.argv[1]
LOG_FILE = sys.argv[2]
DEVICES = sys.argv[3:]

logging.basicConfig(
    level=logging.INFO,
    format='%(asctime)s [%(levelname)s] %(message)s',
    handlers=[logging.FileHandler(LOG_FILE), logging.StreamHandler()],
)
logger = logging.getLogger(__name__)


def get_file_hour(filepath: str) -> int:
    mtime = os.path.getmtime(filepath)
    return datetime.fromtimestamp(mtime).hour


def archive_files(hot_dir: str, cold_dir: str, pattern: str, limit: int):
    try:
        hot_files = sorted(
            [f for f in Path(hot_dir).glob(pattern) if f.is_file()],
            key=lambda f: f.stat().st_mtime
        )
        if len(hot_files) <= limit:
            return 0
        files_to_archive = hot_files[:-limit]
        logger.info(f"{hot_dir}: Archiving {len(files_to_archive)} files (total: {len(hot_files)})")
        archived_count = 0
        for filepath in files_to_archive:
            try:
                file_hour = get_file_hour(str(filepath))
                hour_folder = os.path.join(cold_dir, str(file_hour))
                dest_path = os.path.join(hour_folder, filepath.name)
                shutil.move(str(filepath), dest_path)
                archived_count += 1
            except Exception as e:
                logger.error(f"CRITICAL: Failed to archive {filepath}: {e}")
        return archived_count
    except Exception as e:
        logger.error(f"CRITICAL: Archive failure in {hot_dir}: {e}")
        return 0


def archive_device(device_name: str):
    device_path = os.path.join(BASE_PATH, device_name)
    hot_path = os.path.join(device_path, 'hot')
    if not os.path.ismount(hot_path):
        logger.error(f"CRITICAL: {hot_path} is not a tmpfs mount! RAM storage not available!")
        return
    total_archived = 0
    total_archived += archive_files(os.path.join(hot_path, 'captures'), os.path.join(device_path, 'captures'),
                                    'capture_*.jpg', HOT_LIMIT)
    total_archived += archive_files(os.path.join(hot_path, 'thumbnails'), os.path.join(device_path, 'thumbnails'),
                                    'capture_*_thumbnail.jpg', HOT_LIMIT)
    total_archived += archive_files(os.path.join(hot_path, 'segments'), os.path.join(device_path, 'segments'),
                                    'segment_*.ts', SEGMENT_LIMIT)
    if total_archived > 0:
        logger.info(f"✓ {device_name}: Archived {total_archived} files (RAM → SD)")


def main():
    logger.info("RAM Hot → SD Cold Archival Service")
    for device in DEVICES:
        hot_path = os.path.join(BASE_PATH, device, 'hot')
        if not os.path.ismount(hot_path):
            logger.error(f"CRITICAL: {hot_path} not mounted! Run setup_ram_hot_storage.sh first!")
            sys.exit(1)
    while True:
        try:
            for device in DEVICES:
                archive_device(device)
            time.sleep(ARCHIVE_INTERVAL)
        except KeyboardInterrupt:
            logger.info("Shutting down...")
            break
        except Exception as e:
            logger.error(f"CRITICAL: Archive service error: {e}")
            time.sleep(10)


if __name__ == '__main__':
    import signal
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    main()
