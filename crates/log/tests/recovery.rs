//! Segment storage on damaged files: torn tails truncated and reported, corruption in the
//! middle reported by file and offset (and cut by a repair), segments rolled over and
//! checked for gaps, options refused with a clear error, a directory in use refused.

use std::fs;
use std::path::{Path, PathBuf};

use tiercache_log::segment::{RECORD_OVERHEAD, TornTail};
use tiercache_log::{
    Limits, LogError, LogStorage, MessageId, Record, Recovery, SegmentOptions, SegmentStorage,
};

const VALUE: usize = 100;
/// Every record of these tests takes this many bytes.
const RECORD: u64 = (RECORD_OVERHEAD + VALUE) as u64;

fn record(seq: u32) -> Record {
    Record {
        id: MessageId {
            time_ms: 1_700_000_000_000,
            publisher: 1,
            seq,
        },
        idempotency_key: None,
        value: vec![seq as u8; VALUE],
    }
}

fn options(segment_bytes: u64) -> SegmentOptions {
    SegmentOptions {
        segment_bytes,
        limits: Limits {
            max_value: VALUE,
            ..Limits::default()
        },
        ..SegmentOptions::default()
    }
}

fn open(dir: &Path, segment_bytes: u64) -> (SegmentStorage, Recovery) {
    SegmentStorage::open(dir, options(segment_bytes)).unwrap()
}

/// A storage in `dir` holding records 0..count of "app", one append each, then closed.
async fn filled(dir: &Path, count: u32, segment_bytes: u64) {
    let (storage, _) = open(dir, segment_bytes);
    for seq in 0..count {
        storage.append("app", vec![record(seq)]).await.unwrap();
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("app"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

async fn stored(storage: &SegmentStorage) -> Vec<Record> {
    let records = storage.read("app", 0, usize::MAX).await.unwrap();
    records.into_iter().map(|(_, record)| record).collect()
}

fn records(range: std::ops::Range<u32>) -> Vec<Record> {
    range.map(record).collect()
}

#[tokio::test]
async fn a_segment_cut_inside_its_last_record_loses_only_that_record() {
    // Cut in the header, at its end, in the id, in the value, one byte short.
    for cut in [1, 15, 16, 31, 32, RECORD - 1] {
        let dir = tempfile::tempdir().unwrap();
        filled(dir.path(), 10, 1 << 20).await;
        let file = segments(dir.path()).pop().unwrap();
        let end = fs::metadata(&file).unwrap().len();
        assert_eq!(end, 10 * RECORD);
        fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(9 * RECORD + cut)
            .unwrap();

        let (storage, recovery) = open(dir.path(), 1 << 20);
        assert_eq!(
            recovery.torn_tails,
            [TornTail {
                app: "app".into(),
                file: file.clone(),
                offset: 9 * RECORD,
                bytes: cut,
            }],
            "cut {cut}"
        );
        assert!(recovery.corrupt.is_empty());
        assert_eq!(recovery.records, 9);
        assert_eq!(stored(&storage).await, records(0..9));
        assert_eq!(fs::metadata(&file).unwrap().len(), 9 * RECORD);
        // The lost record comes back (from another copy) at the next position.
        let appended = storage
            .append("app", vec![record(9), record(10)])
            .await
            .unwrap();
        assert_eq!((appended.first, appended.appended), (9, 2));
        drop(storage);
        let (storage, recovery) = open(dir.path(), 1 << 20);
        assert_eq!(
            recovery,
            Recovery {
                apps: 1,
                records: 11,
                ..Recovery::default()
            }
        );
        assert_eq!(stored(&storage).await, records(0..11));
    }
}

#[tokio::test]
async fn a_zero_filled_tail_is_torn_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path(), 3, 1 << 20).await;
    let file = segments(dir.path()).pop().unwrap();
    // The file grew but the data never reached the disk.
    fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(3 * RECORD + 4096)
        .unwrap();
    let (storage, recovery) = open(dir.path(), 1 << 20);
    assert_eq!(recovery.torn_tails[0].offset, 3 * RECORD);
    assert_eq!(recovery.torn_tails[0].bytes, 4096);
    assert_eq!(stored(&storage).await, records(0..3));
}

fn flip(file: &Path, offset: u64) {
    let mut bytes = fs::read(file).unwrap();
    bytes[offset as usize] ^= 0x01;
    fs::write(file, bytes).unwrap();
}

fn assert_corrupt(error: &LogError, file: &Path, offset: u64) {
    match error {
        LogError::Corrupt {
            file: at,
            offset: at_offset,
            reason,
        } => {
            assert_eq!((at.as_path(), *at_offset), (file, offset), "{reason}");
            let text = error.to_string();
            assert!(
                text.contains(&file.display().to_string()) && text.contains(&offset.to_string()),
                "{text}"
            );
        }
        other => panic!("not a corruption: {other:?}"),
    }
}

#[tokio::test]
async fn a_flipped_byte_in_the_middle_is_reported_by_file_and_offset_until_repaired() {
    // In a value, and in a length field (caught by the header's checksum, so the rest of
    // the file is never mistaken for a torn tail).
    for (record_number, byte) in [(3, 40), (5, 5)] {
        let dir = tempfile::tempdir().unwrap();
        filled(dir.path(), 10, 1 << 20).await;
        let file = segments(dir.path()).pop().unwrap();
        let offset = record_number * RECORD;
        flip(&file, offset + byte);

        let (storage, recovery) = open(dir.path(), 1 << 20);
        assert!(recovery.torn_tails.is_empty());
        assert_eq!(recovery.corrupt.len(), 1);
        assert_eq!(recovery.corrupt[0].0, "app");
        assert_corrupt(&recovery.corrupt[0].1, &file, offset);
        // Served up to the corruption; appends refused with the same report.
        assert_eq!(storage.len("app").await.unwrap(), record_number);
        assert_eq!(stored(&storage).await, records(0..record_number as u32));
        let refused = storage.append("app", vec![record(10)]).await.unwrap_err();
        assert_corrupt(&refused, &file, offset);
        assert_corrupt(&storage.failure("app").unwrap(), &file, offset);
        assert_eq!(storage.failures().len(), 1);
        // Other applications are unaffected.
        storage.append("other", vec![record(0)]).await.unwrap();
        // Nothing was changed on disk by opening.
        assert_eq!(fs::metadata(&file).unwrap().len(), 10 * RECORD);

        let repaired = storage.repair("app").await.unwrap();
        assert_corrupt(repaired.cut.as_ref().unwrap(), &file, offset);
        assert_eq!(repaired.bytes_removed, (10 - record_number) * RECORD);
        assert_eq!(repaired.len, record_number);
        assert_eq!(storage.failure("app"), None);
        assert!(storage.failures().is_empty());
        // The cut records come back from the other copies, at the next positions.
        let appended = storage
            .append("app", records(record_number as u32..12))
            .await
            .unwrap();
        assert_eq!(appended.first, record_number);
        drop(storage);
        let (storage, recovery) = open(dir.path(), 1 << 20);
        assert!(recovery.corrupt.is_empty() && recovery.torn_tails.is_empty());
        assert_eq!(stored(&storage).await, records(0..12));
    }
}

#[tokio::test]
async fn segments_roll_over_at_the_configured_size() {
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 7 * RECORD + 50;
    {
        let (storage, _) = open(dir.path(), segment_bytes);
        for seq in (0..30).step_by(3) {
            storage.append("app", records(seq..seq + 3)).await.unwrap();
        }
        assert_eq!(stored(&storage).await, records(0..30));
    }
    let files = segments(dir.path());
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [0, 7, 14, 21, 28].map(|first| format!("{first:020}.seg"))
    );
    for file in &files[..4] {
        assert_eq!(fs::metadata(file).unwrap().len(), 7 * RECORD);
    }
    let (storage, recovery) = open(dir.path(), segment_bytes);
    assert_eq!(recovery.records, 30);
    assert_eq!(storage.read("app", 5, 10).await.unwrap()[0], (5, record(5)));
    assert_eq!(stored(&storage).await, records(0..30));
}

#[tokio::test]
async fn damage_in_an_earlier_segment_is_corruption_even_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 4 * RECORD;
    filled(dir.path(), 10, segment_bytes).await;
    let files = segments(dir.path());
    assert_eq!(files.len(), 3);
    // Cut the first segment inside its last record: complete segments are never torn.
    fs::OpenOptions::new()
        .write(true)
        .open(&files[0])
        .unwrap()
        .set_len(3 * RECORD + 10)
        .unwrap();
    let (storage, recovery) = open(dir.path(), segment_bytes);
    assert!(recovery.torn_tails.is_empty());
    assert_corrupt(&recovery.corrupt[0].1, &files[0], 3 * RECORD);
    assert_eq!(storage.len("app").await.unwrap(), 3);

    let repaired = storage.repair("app").await.unwrap();
    assert_eq!(repaired.segments_removed, files[1..]);
    assert_eq!(repaired.bytes_removed, 10);
    storage.append("app", records(3..10)).await.unwrap();
    assert_eq!(stored(&storage).await, records(0..10));
}

#[tokio::test]
async fn a_missing_segment_is_corruption_naming_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 4 * RECORD;
    filled(dir.path(), 10, segment_bytes).await;
    let files = segments(dir.path());
    fs::remove_file(&files[1]).unwrap();
    let (storage, recovery) = open(dir.path(), segment_bytes);
    assert_corrupt(&recovery.corrupt[0].1, &files[2], 0);
    assert_eq!(storage.len("app").await.unwrap(), 4);
    let repaired = storage.repair("app").await.unwrap();
    assert_eq!(repaired.segments_removed, [files[2].clone()]);
    assert_eq!(repaired.len, 4);
    storage.append("app", records(4..10)).await.unwrap();
    drop(storage);
    let (storage, recovery) = open(dir.path(), segment_bytes);
    assert!(recovery.corrupt.is_empty(), "{recovery:?}");
    assert_eq!(stored(&storage).await, records(0..10));
}

#[tokio::test]
async fn damage_after_open_is_found_by_the_read_that_meets_it() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _) = open(dir.path(), 1 << 20);
    storage.append("app", records(0..5)).await.unwrap();
    let file = segments(dir.path()).pop().unwrap();
    flip(&file, 2 * RECORD + 50);
    assert_eq!(storage.read("app", 0, 2).await.unwrap().len(), 2);
    let error = storage.read("app", 0, 5).await.unwrap_err();
    assert_corrupt(&error, &file, 2 * RECORD);
}

#[tokio::test]
async fn a_healthy_log_loses_nothing_to_a_repair() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _) = open(dir.path(), 1 << 20);
    storage.append("app", records(0..5)).await.unwrap();
    let repaired = storage.repair("app").await.unwrap();
    assert_eq!(repaired.cut, None);
    assert_eq!(repaired.len, 5);
    storage.append("app", records(5..6)).await.unwrap();
    assert_eq!(stored(&storage).await, records(0..6));
    assert_eq!(storage.repair("unknown").await.unwrap().len, 0);
}

#[test]
fn unusable_options_and_names_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (options, words) in [
        (
            SegmentOptions {
                segment_bytes: 1000,
                ..SegmentOptions::default()
            },
            "largest record",
        ),
        (
            SegmentOptions {
                writer_threads: 0,
                ..SegmentOptions::default()
            },
            "writer thread",
        ),
        (
            SegmentOptions {
                limits: Limits {
                    max_key: 300,
                    ..Limits::default()
                },
                ..SegmentOptions::default()
            },
            "idempotency key limit",
        ),
        (
            SegmentOptions {
                limits: Limits {
                    max_batch: 0,
                    ..Limits::default()
                },
                ..SegmentOptions::default()
            },
            "batch limit",
        ),
    ] {
        let error = SegmentStorage::open(dir.path(), options).unwrap_err();
        assert!(matches!(error, LogError::InvalidArgument(_)), "{error:?}");
        assert!(error.to_string().contains(words), "{error}");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (storage, _) = open(dir.path(), 1 << 20);
    for app in ["", ".", "..", "a/b"] {
        let error = runtime
            .block_on(storage.append(app, vec![record(0)]))
            .unwrap_err();
        assert!(
            matches!(error, LogError::InvalidArgument(_)),
            "{app:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_directory_in_use_is_refused_until_its_storage_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = open(dir.path(), 1 << 20);
    first.append("app", records(0..3)).await.unwrap();
    let second = SegmentStorage::open(dir.path(), options(1 << 20)).unwrap_err();
    assert!(
        matches!(&second, LogError::DirectoryInUse { dir: held } if held == dir.path()),
        "{second:?}"
    );
    assert!(second.to_string().contains("in use"), "{second}");
    // The refused open wrote nothing: the first storage's records are intact.
    assert_eq!(stored(&first).await, records(0..3));
    drop(first);
    let (reopened, recovery) = open(dir.path(), 1 << 20);
    assert_eq!(recovery.records, 3);
    assert_eq!(stored(&reopened).await, records(0..3));
}
