//! The writer: round trip of the FORMAT.md example, the reference's zip layout, and
//! nothing at the output path when a write fails half-way. The reference's tools must read
//! what fxb writes, and no reader may ever see half a bundle.

use std::io::Read;

use fxb::bundle::{Bundle, BundleWriter, standard_file_name};

use crate::common::{TestContext, dir_listing, reference_manifest, write_llama_min};

#[test]
fn the_format_example_round_trips_field_for_field() {
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    let original = reference_manifest();
    let bundle = Bundle::open(ctx.path("b.fxb")).expect("opens");
    let read = bundle.manifest();
    assert_eq!(read, &original);
    assert_eq!(read.format_version, 2);
    assert_eq!(
        read.uuid.as_deref(),
        Some("d3669b5b-f564-493e-b495-4474ef88451c")
    );
    assert_eq!(
        read.created_at.as_deref(),
        Some("2026-11-23T05:50:50.561591165+00:00")
    );
    assert_eq!(
        read.tool("furiosa_compiler")
            .and_then(|t| t.revision.as_deref()),
        Some("ae27d44cd8")
    );
    assert_eq!(
        read.tool("furiosa_llm").and_then(|t| t.version.as_deref()),
        Some("2026.4.0")
    );
    let model = read.model.as_ref().expect("model");
    assert_eq!(model.architecture.as_deref(), Some("LlamaForCausalLM"));
    assert_eq!(model.fields["rms_norm_eps"], serde_json::json!(0.00001));
    assert_eq!(
        model.fields["rope_scaling"]["factor"],
        serde_json::json!(8.0)
    );
    assert_eq!(read.tensor_parallel_size(), 8);
    assert_eq!(read.pipeline_parallel_size(), 1);
    assert_eq!(read.entry_count(), 4);
    assert_eq!(
        standard_file_name(read).as_deref(),
        Ok("llamaforcausallm-ae27d44cd8-b1baffa75-2611230550.fxb")
    );
}

/// The zip layout the reference writes (FORMAT.md §1.1): kernel files in build order then
/// the manifest, every entry stored, mode 0644, no extra fields, file mode 0600.
#[test]
fn the_archive_layout_is_the_reference_layout() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = TestContext::new();
    write_llama_min(&ctx.path("b.fxb"));
    let bundle = Bundle::open(ctx.path("b.fxb")).expect("opens");
    let names: Vec<String> = bundle
        .entries()
        .expect("entries")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        names,
        [
            "edfs/first_tokenwise_tw1.edf",
            "edfs/mid_tokenwise_tw1.edf",
            "edfs/last_tokenwise_with_lm_head_tw1.edf",
            "edfs/full_attention_b1_a256_kv255.edf",
            "manifest.json"
        ]
    );
    let bytes = std::fs::read(ctx.path("b.fxb")).expect("read");
    // First local header: version needed 10, flags 0, method 0 (stored), no extra field.
    assert_eq!(&bytes[..10], b"PK\x03\x04\x0a\x00\x00\x00\x00\x00");
    assert_eq!(&bytes[28..30], &[0, 0]);
    let central = bytes
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("central directory");
    // Made by Unix 1.0, needs 1.0, external attributes 0o100644 << 16.
    assert_eq!(&bytes[central + 4..central + 8], &[0x0a, 0x03, 0x0a, 0x00]);
    assert_eq!(
        &bytes[central + 38..central + 42],
        &0x81a4_0000u32.to_le_bytes()
    );
    // The reference leaves its temp file's 0600 (FORMAT.md §1); fxb creates the bundle as
    // any file is created, 0666 less the umask, so colleagues and servers can read it.
    let mode = std::fs::metadata(ctx.path("b.fxb"))
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    let umask = fxb::fs::current_umask().expect("umask");
    assert_eq!(mode, 0o666 & !umask);
}

/// A source that fails half-way: the error surfaces, nothing appears at the output path,
/// and the temporary file is gone.
#[test]
fn a_failed_write_leaves_nothing_behind() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }
    let ctx = TestContext::new();
    let out = ctx.path("b.fxb");
    let mut writer = BundleWriter::create(&out, chrono::Utc::now()).expect("create");
    let err = writer
        .add_entry("edfs/x.edf", &mut Failing(100_000), 1_000_000)
        .expect_err("fails");
    assert!(err.to_string().contains("b.fxb"), "{err}");
    drop(writer);
    assert!(!out.exists());
    assert_eq!(dir_listing(ctx.root()), ["home"]);
}

/// A manifest naming a file that was never added is refused at finish, and the output
/// never appears.
#[test]
fn finish_refuses_a_manifest_naming_a_file_not_written() {
    let ctx = TestContext::new();
    let out = ctx.path("b.fxb");
    let writer = BundleWriter::create(&out, chrono::Utc::now()).expect("create");
    let err = writer.finish(&reference_manifest()).expect_err("refused");
    assert!(err.to_string().contains("edfs/"), "{err}");
    assert!(!out.exists());
    assert_eq!(dir_listing(ctx.root()), ["home"]);
}

#[test]
fn the_writer_refuses_unsafe_and_duplicate_names() {
    let ctx = TestContext::new();
    let mut writer = BundleWriter::create(ctx.path("b.fxb"), chrono::Utc::now()).expect("create");
    assert!(writer.add_entry("../x.edf", &mut &b"x"[..], 1).is_err());
    assert!(
        writer
            .add_entry("manifest.json", &mut &b"x"[..], 1)
            .is_err()
    );
    writer
        .add_entry("edfs/a.edf", &mut &b"x"[..], 1)
        .expect("first");
    assert!(writer.add_entry("edfs/a.edf", &mut &b"x"[..], 1).is_err());
}
