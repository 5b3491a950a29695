//! The KFP v1 corpus (`../shared/conformance-v1`, 28 Argo Workflows compiled by kfp 1.8.22):
//! every file is either converted into a valid v2 spec or refused with a message naming the
//! field it needs. Whether the converted ones run is checked end to end in `tests/e2e/v1.rs`.

use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance-v1/valid");
    assert!(
        dir.is_dir(),
        "the shared KFP v1 corpus is missing: expected {} (the `shared/` folder beside the \
         checkout)",
        dir.display()
    );
    dir
}

/// What the converter does with each file, and why.
fn expectation(file: &str) -> Result<(), &'static str> {
    match file {
        // Kubernetes volumes (PVCs, secrets) and resources (VolumeOp, ResourceOp,
        // VolumeSnapshotOp) need a cluster.
        "artifact_passing_using_volume.yaml" => Err("at spec.volumes:"),
        "param_substitutions.yaml" | "resourceop_basic.yaml" | "volumeop_basic.yaml" => {
            Err("at spec.templates[cop].volumes:")
        }
        "volume.yaml" => Err("at spec.templates[download].volumes:"),
        "volume_snapshotop_rokurl.yaml" => Err("at spec.templates[create-snapshot-1].resource:"),
        "volume_snapshotop_sequential.yaml" => Err("at spec.templates[create-volume].resource:"),
        "volumeop_parallel.yaml" => Err("at spec.templates[create-pvc].resource:"),
        "volumeop_sequential.yaml" => Err("at spec.templates[mypvc].resource:"),
        // A service container beside the step needs a pod.
        "pipelineparams.yaml" | "sidecar.yaml" => Err("at spec.templates[download].sidecars:"),
        // kfp's own test data for a Kaniko build: a Pod manifest, not a pipeline.
        "kaniko.basic.yaml" => Err("(apiVersion v1, kind Pod), not a pipeline"),
        // A recursive graph component (a `while` loop through `when`): no v2 equivalent.
        "recursive_while.yaml" => Err("calls itself"),
        // A fragment without an entrypoint, which Argo refuses too.
        "tolerations.yaml" => Err("at spec.entrypoint: missing"),
        _ => Ok(()),
    }
}

#[test]
fn every_v1_corpus_file_converts_or_is_refused_by_field() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 28, "the v1 corpus has 28 files");
    let mut failures = Vec::new();
    let mut converted = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(f).unwrap();
        let got = penstock_spec::parse_pipeline(&name, &bytes);
        match (expectation(&name), got) {
            (Ok(()), Ok(_)) => converted += 1,
            (Err(text), Err(e))
                if e.to_string().contains(text) && e.to_string().starts_with(&name) => {}
            (want, got) => failures.push(format!(
                "{name}: expected {want:?}, got {:?}",
                got.map(|p| p.name().to_string())
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(converted, 14, "14 of the 28 files need no cluster");
}
