//! `schemas/*.json` are generated from the serde types; this fails when they drift, since
//! users and tools validate fxb's `--json` output and files against the checked-in ones.
//! Regenerate with `FXB_UPDATE_SCHEMAS=1 cargo test schemas`.

use std::path::Path;

#[test]
fn checked_in_schemas_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let update = std::env::var_os("FXB_UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for (name, text) in fxb::schema::all().expect("schemas serialize") {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, &text).expect("write schema");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "schemas out of date: {stale:?}; run `FXB_UPDATE_SCHEMAS=1 cargo test schemas` and commit the result"
    );
}

/// The real manifests validate against the generated schema's required fields.
#[test]
fn the_manifest_schema_requires_what_the_reader_requires() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/manifest.schema.json"),
        )
        .expect("schema"),
    )
    .expect("json");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required list")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(required, ["format_version", "kernels"]);
}

/// Published ABI versions never change: the v1 message types must produce exactly the
/// frozen schema of the current minor, and every older frozen minor must still exist.
/// To add optional fields: bump `ABI_MINOR`, add `plugins/api/frozen/v1.<minor>.schema.json`.
#[test]
fn the_published_plugin_abi_is_frozen() {
    let frozen_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/api/frozen");
    let current =
        serde_json::to_string_pretty(&fxb_plugin_api::v1::schema()).expect("schema") + "\n";
    let minor = fxb_plugin_api::ABI_MINOR;
    let frozen = std::fs::read_to_string(frozen_dir.join(format!("v1.{minor}.schema.json")))
        .expect("the current ABI minor has a frozen schema");
    assert!(
        frozen == current,
        "the v1 plugin message types changed: a published ABI is frozen (add optional fields under a new minor)"
    );
    for older in 0..minor {
        assert!(
            frozen_dir.join(format!("v1.{older}.schema.json")).is_file(),
            "frozen v1.{older} is missing"
        );
    }
}
