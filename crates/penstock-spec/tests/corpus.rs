//! Every pipeline of the shared conformance corpus parses and validates; every invalid file is
//! refused with a message that names it.

use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    assert!(
        dir.is_dir(),
        "the shared conformance corpus is missing: expected {} (the `shared/` folder beside the \
         checkout; see README \"Running the tests\")",
        dir.display()
    );
    dir
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

#[test]
fn every_valid_corpus_file_parses() {
    let mut files = Vec::new();
    yaml_files(&corpus().join("valid"), &mut files);
    assert_eq!(files.len(), 90, "the corpus has 90 valid files");
    let mut failures = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        if let Err(e) = penstock_spec::parse_pipeline(&f.display().to_string(), &bytes) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_invalid_corpus_file_is_refused_with_its_name() {
    let dir = corpus().join("invalid");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.display().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let err = penstock_spec::parse_pipeline(&name, &bytes)
            .expect_err(&format!("{name} must be refused"));
        let text = err.to_string();
        assert!(text.starts_with(&name), "{text}");
        assert!(!err.message.is_empty());
        count += 1;
    }
    assert_eq!(count, 6);
}
