//! What the fuzz seeds and the named reproducers are made of. Seeds are the fixtures,
//! small: real manifests, configs and rule files as they are, the reference bundles and
//! kernel files re-made with their real signatures around tiny payloads. Reproducers are
//! the inputs issue 13 found fxb mishandling, and their neighbours.

use std::io::Write as _;

use fxb::bundle::{Bundle, Edf, Manifest, NpuTensor, Signature, parse_manifest};
use serde_json::{Value, json};

use crate::common::{
    RawEntry, edf_bytes, fixtures, raw_zip, read_reference, reference, reference_signatures,
};

/// One file under `fuzz/`: its path there and its bytes.
pub type Seed = (String, Vec<u8>);

/// Every seed and named reproducer, by path under `fuzz/`.
pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    manifests(&mut out);
    bundles(&mut out);
    edfs(&mut out);
    configs(&mut out);
    rule_files(&mut out);
    out
}

fn put(out: &mut Vec<Seed>, path: &str, bytes: impl Into<Vec<u8>>) {
    out.push((path.to_string(), bytes.into()));
}

fn pretty(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("JSON encodes")
}

/// The manifest of `llama-min.fxb` as a JSON value, to edit.
fn reference_manifest_value() -> Value {
    serde_json::from_str(&read_reference("manifest.json")).expect("the reference manifest")
}

/// 70,000 characters: issue 13's manifest that broke `cache ls` and `check` for everyone
/// sharing the cache.
fn long_version() -> String {
    format!("2026.4.0-{}", "9".repeat(70_000))
}

fn long_version_manifest() -> Value {
    let mut manifest = reference_manifest_value();
    manifest["versions"]["furiosa_compiler"]["version"] = long_version().into();
    manifest["versions"]["furiosa_llm"]["version"] = long_version().into();
    manifest["versions"]["furiosa_llm"]["revision"] = "b".repeat(70_000).into();
    manifest
}

fn manifests(out: &mut Vec<Seed>) {
    for name in [
        "manifest.json",
        "manifest-sampler.json",
        "manifest-bge-reranker-v2-m3-stubbuild.json",
        "manifest-gpt-oss-20b-stubbuild.json",
        "manifest-llama-O0-len1024-stubbuild.json",
        "manifest-qwen3-32b-fp8-stubbuild.json",
    ] {
        put(
            out,
            &format!("corpus/manifest/{name}"),
            read_reference(name),
        );
    }
    let reference = reference_manifest_value();
    // Format versions 0 and 1, which are migrated on read.
    put(
        out,
        "corpus/manifest/format-0.json",
        pretty(&json!({"tensor_parallel_size": 8, "kernels": reference["kernels"]})),
    );
    let mut v1 = reference.clone();
    v1["format_version"] = 1.into();
    v1["kernels"]["vision_encoder"] = json!([{
        "bucket": {"vision_encoder": {"num_patches": 1024}},
        "file": "edfs/vision_encoder_p1024.edf"
    }]);
    put(out, "corpus/manifest/format-1-vision.json", pretty(&v1));

    let r = "reproducers/manifest";
    put(
        out,
        &format!("{r}/accepted-version-70000-characters.json"),
        pretty(&long_version_manifest()),
    );
    let mut escapes = reference.clone();
    let escape = "\u{1b}[2J\u{1b}]0;title\u{7}\r";
    escapes["uuid"] = format!("d3669b5b{escape}").into();
    escapes["versions"]["furiosa_compiler"]["version"] = format!("2026.4.0{escape}").into();
    // Found by the fuzzer: `show` printed a tool's name raw.
    escapes["versions"][format!("furiosa{escape}llm")] = json!({"version": "2026.4.0"});
    escapes["model"]["architecture"] = format!("Llama{escape}").into();
    escapes["model"]["quant_method"] = format!("fp8{escape}").into();
    let kernels = escapes["kernels"].as_object_mut().expect("kernels");
    let entries = kernels.remove("full_attention").expect("full_attention");
    kernels.insert(format!("full{escape}attention"), entries);
    put(
        out,
        &format!("{r}/accepted-escapes-in-values.json"),
        pretty(&escapes),
    );
    let mut odd = reference.clone();
    odd["kernels"]["full_attention"][0]["bucket"]["attention"] =
        json!({"batch_size": 1, "attention_size": 4, "kv_cache_size": u64::MAX});
    put(
        out,
        &format!("{r}/accepted-kv-cache-larger-than-attention.json"),
        pretty(&odd),
    );
    for (name, format_version) in [
        ("huge", json!(u64::MAX)),
        ("negative", json!(-1)),
        ("fractional", json!(2.5)),
        ("a-string", json!("2")),
    ] {
        let mut manifest = reference.clone();
        manifest["format_version"] = format_version;
        put(
            out,
            &format!("{r}/refused-format-version-{name}.json"),
            pretty(&manifest),
        );
    }
    for (name, size) in [
        ("negative", json!(-1)),
        ("beyond-u64", json!(18_446_744_073_709_551_616_f64)),
        ("fractional", json!(1.5)),
    ] {
        let mut manifest = reference.clone();
        manifest["kernels"]["first_tokenwise"][0]["bucket"]["tokenwise"]["input_size"] = size;
        put(
            out,
            &format!("{r}/refused-bucket-size-{name}.json"),
            pretty(&manifest),
        );
    }
    let mut no_map = reference.clone();
    no_map["kernels"] = json!(["first_tokenwise"]);
    put(
        out,
        &format!("{r}/refused-kernels-not-a-map.json"),
        pretty(&no_map),
    );
    put(
        out,
        &format!("{r}/refused-nested-10000-deep.json"),
        nested_json(
            "{\"format_version\": 2, \"kernels\": {}, \"extras\": ",
            10_000,
            "}",
        ),
    );
    put(
        out,
        &format!("{r}/refused-not-json.json"),
        &b"{\"format_version\": 2,"[..],
    );
}

/// `prefix`, `depth` nested JSON arrays, `suffix`: deeper than any parser should recurse.
fn nested_json(prefix: &str, depth: usize, suffix: &str) -> Vec<u8> {
    format!("{prefix}{}{}{suffix}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
}

/// A bundle of `manifest` whose every kernel file is a tiny EDF with `signature_for`'s
/// signature (or `bytes_for`'s bytes, where it has some), written at a fixed time so it
/// is the same every time.
fn bundle_bytes(
    manifest: &Manifest,
    signature_for: &dyn Fn(&str) -> Signature,
    bytes_for: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("seed.fxb");
    let time = chrono::DateTime::parse_from_rfc3339("2026-11-23T05:50:50Z")
        .expect("a time")
        .to_utc();
    fxb::bundle::write_bundle(&path, manifest, time, |file| {
        let bytes = bytes_for(file).unwrap_or_else(|| edf_bytes(signature_for(file)));
        let size = bytes.len() as u64;
        Ok((Box::new(std::io::Cursor::new(bytes)), size))
    })
    .expect("the bundle is written");
    std::fs::read(&path).expect("the bundle reads")
}

/// Signatures by file name, from a reference bundle.
fn signatures(bundle: &str) -> impl Fn(&str) -> Signature {
    let table = reference_signatures(bundle);
    move |file| {
        table
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }
}

fn none(_: &str) -> Option<Vec<u8>> {
    None
}

/// The same entries as `bundle`, every one deflated, behind a directory entry: what
/// other zip tools make of a bundle.
fn deflated(bundle: &[u8]) -> Vec<u8> {
    let mut source = zip::ZipArchive::new(std::io::Cursor::new(bundle)).expect("a zip");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    out.add_directory("edfs/", options).expect("a directory");
    for index in 0..source.len() {
        let mut entry = source.by_index(index).expect("an entry");
        let name = entry.name().expect("a UTF-8 name").to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).expect("read");
        out.start_file(name, options).expect("an entry");
        out.write_all(&data).expect("write");
    }
    out.finish().expect("a zip").into_inner()
}

fn bundles(out: &mut Vec<Seed>) {
    let min_manifest = parse_manifest(read_reference("manifest.json").as_bytes()).expect("parses");
    let min_signatures = signatures("llama-min.fxb");
    let min = bundle_bytes(&min_manifest, &min_signatures, &none);
    let sampler_manifest =
        parse_manifest(read_reference("manifest-sampler.json").as_bytes()).expect("parses");
    let sampler = bundle_bytes(&sampler_manifest, &signatures("llama-sampler.fxb"), &none);
    put(out, "corpus/bundle/llama-min.fxb", min.clone());
    put(out, "corpus/bundle/llama-sampler.fxb", sampler);
    put(out, "corpus/bundle/llama-min-deflated.fxb", deflated(&min));

    let r = "reproducers/bundle";
    // Issue 13: corrupted entries were unpacked and added without a word.
    let mut kernel_corrupt = min.clone();
    let payload = find(&kernel_corrupt, &[0xAB; 64]).expect("a kernel payload");
    kernel_corrupt[payload] ^= 0x01;
    put(
        out,
        &format!("{r}/refused-kernel-crc-wrong.fxb"),
        kernel_corrupt,
    );
    let mut manifest_corrupt = min.clone();
    let version = find(&manifest_corrupt, b"\"2026.4.0\"").expect("a version");
    manifest_corrupt[version + 8] = b'1';
    put(
        out,
        &format!("{r}/refused-manifest-crc-wrong.fxb"),
        manifest_corrupt,
    );
    put(
        out,
        &format!("{r}/refused-truncated.fxb"),
        min[..min.len() * 3 / 5].to_vec(),
    );
    let long = parse_manifest(&pretty(&long_version_manifest())).expect("parses");
    put(
        out,
        &format!("{r}/accepted-version-70000-characters.fxb"),
        bundle_bytes(&long, &min_signatures, &none),
    );
    let first_kernel = "edfs/first_tokenwise_tw1.edf";
    put(
        out,
        &format!("{r}/refused-kernel-length-prefix-huge.fxb"),
        bundle_bytes(&min_manifest, &min_signatures, &|file| {
            (file == first_kernel).then(|| container_with_prefix(u64::MAX, &edf_cbor_head()))
        }),
    );
    // Sizes that would exhaust memory or the disk if believed.
    let manifest = read_reference("manifest.json");
    let lying = |name: &str, method: u16, data: &[u8], declared: u64| {
        raw_zip(&[
            RawEntry {
                name: name.as_bytes().to_vec(),
                data: data.to_vec(),
                method,
                declared_size: Some(declared),
            },
            RawEntry::stored("manifest.json", manifest.as_bytes()),
        ])
    };
    put(
        out,
        &format!("{r}/refused-stored-size-4-gib.fxb"),
        lying(first_kernel, 0, b"tiny", u64::from(u32::MAX)),
    );
    // Ten bytes of deflate (an empty stream and padding) declaring 4 GiB.
    put(
        out,
        &format!("{r}/refused-deflated-ratio-beyond-deflate.fxb"),
        lying(
            first_kernel,
            8,
            &[0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0],
            u64::from(u32::MAX),
        ),
    );
    put(
        out,
        &format!("{r}/refused-duplicate-manifest.fxb"),
        raw_zip(&[
            RawEntry::stored("manifest.json", manifest.as_bytes()),
            RawEntry::stored("manifest.json", b"{}"),
        ]),
    );
    put(
        out,
        &format!("{r}/refused-entry-name-escapes.fxb"),
        raw_zip(&[
            RawEntry::stored("../../etc/evil", b"x"),
            RawEntry::stored("manifest.json", manifest.as_bytes()),
        ]),
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `{"Edf": {` with five fields to come, and `nodes` as the first's key.
fn edf_cbor_head() -> Vec<u8> {
    let mut cbor = vec![0xa1, 0x63];
    cbor.extend_from_slice(b"Edf");
    cbor.extend_from_slice(&[0xa5, 0x65]);
    cbor.extend_from_slice(b"nodes");
    cbor
}

/// An EDF container around `cbor`, its length prefix saying `prefix`.
fn container_with_prefix(prefix: u64, cbor: &[u8]) -> Vec<u8> {
    let mut bytes = prefix.to_le_bytes().to_vec();
    bytes.extend_from_slice(cbor);
    bytes.extend_from_slice(&[0; 16]);
    bytes
}

fn container(cbor: &[u8]) -> Vec<u8> {
    container_with_prefix(cbor.len() as u64, cbor)
}

/// A real kernel file with its real CBOR structure kept and its payloads cut: byte and
/// text strings to 8 bytes, arrays and maps to 4 items, everything but the signature.
fn shrunk_edf(bundle: &str, file: &str) -> Vec<u8> {
    let mut bundle = Bundle::open(reference(&format!("bundles/{bundle}"))).expect("opens");
    let mut bytes = Vec::new();
    bundle.copy_entry(file, &mut bytes).expect("reads");
    let cbor = &bytes[8..bytes.len() - 16];
    let mut value: ciborium::Value = ciborium::from_reader(cbor).expect("CBOR");
    let ciborium::Value::Map(top) = &mut value else {
        panic!("an EDF is a map")
    };
    let ciborium::Value::Map(fields) = &mut top[0].1 else {
        panic!("`Edf` is a map")
    };
    for (key, field) in fields.iter_mut() {
        if key.as_text() != Some("signature") {
            shrink(field);
        }
    }
    let mut cbor = Vec::new();
    ciborium::into_writer(&value, &mut cbor).expect("encodes");
    container(&cbor)
}

fn shrink(value: &mut ciborium::Value) {
    use ciborium::Value as V;
    match value {
        V::Bytes(b) => b.truncate(8),
        V::Text(t) => *t = t.chars().take(8).collect(),
        V::Array(items) => {
            items.truncate(4);
            items.iter_mut().for_each(shrink);
        }
        V::Map(items) => {
            items.truncate(4);
            for (k, v) in items.iter_mut() {
                shrink(k);
                shrink(v);
            }
        }
        V::Tag(_, inner) => shrink(inner),
        _ => {}
    }
}

fn edfs(out: &mut Vec<Seed>) {
    let mut seen = std::collections::BTreeMap::new();
    for bundle in ["llama-min.fxb", "llama-sampler.fxb"] {
        for (file, signature) in reference_signatures(bundle) {
            seen.entry(file).or_insert(signature);
        }
    }
    let first = seen
        .get("edfs/first_tokenwise_tw1.edf")
        .expect("a tokenwise kernel")
        .clone();
    for (file, signature) in seen {
        let name = file.trim_start_matches("edfs/");
        put(out, &format!("corpus/edf/{name}"), edf_bytes(signature));
    }
    put(
        out,
        "corpus/edf/first_tokenwise_tw1-structure.edf",
        shrunk_edf("llama-min.fxb", "edfs/first_tokenwise_tw1.edf"),
    );

    let r = "reproducers/edf";
    put(
        out,
        &format!("{r}/refused-length-prefix-u64-max.edf"),
        container_with_prefix(u64::MAX, &edf_cbor_head()),
    );
    let mut endless = edf_cbor_head();
    endless.push(0x9b);
    endless.extend_from_slice(&u64::MAX.to_be_bytes());
    put(
        out,
        &format!("{r}/refused-nodes-claim-2^64-items.edf"),
        container(&endless),
    );
    let mut deep = edf_cbor_head();
    deep.extend(std::iter::repeat_n(0x81, 100_000));
    deep.push(0x00);
    put(
        out,
        &format!("{r}/refused-nodes-nested-100000-deep.edf"),
        container(&deep),
    );
    // A signature claiming four billion inputs, in a file of a few bytes.
    let mut huge = vec![0xa1, 0x63];
    huge.extend_from_slice(b"Edf");
    huge.extend_from_slice(&[0xa1, 0x69]);
    huge.extend_from_slice(b"signature");
    huge.extend_from_slice(&[0xa2, 0x66]);
    huge.extend_from_slice(b"inputs");
    huge.extend_from_slice(&[0x9a, 0xff, 0xff, 0xff, 0xff, 0x80]);
    put(
        out,
        &format!("{r}/refused-signature-claims-2^32-inputs.edf"),
        container(&huge),
    );
    let mut long_key = vec![0xa1, 0x63];
    long_key.extend_from_slice(b"Edf");
    long_key.extend_from_slice(&[0xa1, 0x79, 0x10, 0x01]);
    long_key.extend(std::iter::repeat_n(b'k', 0x1001));
    long_key.push(0x00);
    put(
        out,
        &format!("{r}/refused-key-of-4097-bytes.edf"),
        container(&long_key),
    );
    let whole = edf_bytes(first.clone());
    put(
        out,
        &format!("{r}/refused-trailer-missing.edf"),
        whole[..whole.len() - 16].to_vec(),
    );
    // Sizes whose product overflows, and an element type no compiler has made yet.
    let mut overflow = first.clone();
    let NpuTensor::DramShape(shape) = &mut overflow.inputs[0].0.npu_tensor;
    for axis in &mut shape.inner.intra_chip_axes.axes {
        axis.size = u64::MAX;
    }
    put(
        out,
        &format!("{r}/accepted-axis-sizes-overflow.edf"),
        edf_bytes(overflow),
    );
    let mut unknown = first;
    unknown.outputs[0].element_type = fxb::bundle::ElementType("Float128".into());
    put(
        out,
        &format!("{r}/accepted-unknown-element-type.edf"),
        edf_bytes(unknown),
    );
    put(
        out,
        &format!("{r}/accepted-no-signature.edf"),
        Edf {
            body: fxb::bundle::EdfBody {
                nodes: vec![],
                inputs: vec![],
                outputs: vec![],
                placeholders: ciborium::Value::Null,
                copies: ciborium::Value::Null,
                signature: Signature::default(),
            },
        }
        .to_bytes()
        .expect("encodes"),
    );
}

fn configs(out: &mut Vec<Seed>) {
    let dir = fixtures().join("configs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the fixture configs")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    for name in names {
        put(
            out,
            &format!("corpus/fingerprint/{name}"),
            std::fs::read(dir.join(&name)).expect("a config"),
        );
    }
    let base: Value = serde_json::from_slice(
        &std::fs::read(dir.join("meta-llama--Llama-3.1-8B-Instruct.json")).expect("a config"),
    )
    .expect("JSON");

    let r = "reproducers/fingerprint";
    // Issue 13: objects, lists and negative numbers were fingerprinted and built.
    for field in ["num_hidden_layers", "num_key_value_heads", "head_dim"] {
        let good = base.get(field).and_then(Value::as_i64).unwrap_or(128);
        for (kind, value) in [
            ("an-object", json!({"value": good})),
            ("a-list", json!([good])),
            ("negative", json!(-good)),
        ] {
            let mut config = base.clone();
            config[field] = value;
            let name = field.replace('_', "-");
            put(
                out,
                &format!("{r}/refused-{name}-{kind}.json"),
                pretty(&config),
            );
        }
    }
    let mut negative = base.clone();
    negative["hidden_size"] = json!(-4096);
    put(
        out,
        &format!("{r}/refused-hidden-size-negative.json"),
        pretty(&negative),
    );
    let mut no_list = base.clone();
    no_list["architectures"] = json!("LlamaForCausalLM");
    put(
        out,
        &format!("{r}/refused-architectures-not-a-list.json"),
        pretty(&no_list),
    );
    put(
        out,
        &format!("{r}/refused-nested-10000-deep.json"),
        nested_json(
            "{\"architectures\": [\"LlamaForCausalLM\"], \"rope_scaling\": ",
            10_000,
            "}",
        ),
    );
    put(
        out,
        &format!("{r}/refused-not-json.json"),
        &b"{\"architectures\": "[..],
    );
    let mut unknown = base.clone();
    unknown["architectures"] = json!(["FuzzedForCausalLM"]);
    put(
        out,
        &format!("{r}/accepted-unknown-architecture.json"),
        pretty(&unknown),
    );
}

fn rule_files(out: &mut Vec<Seed>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the rule files")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    for name in &names {
        put(
            out,
            &format!("corpus/rules/{name}"),
            std::fs::read(dir.join(name)).expect("a rule file"),
        );
    }
    let generic = std::fs::read_to_string(dir.join("generic.toml")).expect("generic.toml");
    let llama = std::fs::read_to_string(dir.join("llama.toml")).expect("llama.toml");

    let r = "reproducers/rules";
    // Issue 13: `rules ls` panicked on a rule file claiming 100,000 architectures.
    let many = format!("[{}]", vec!["\"A\""; 100_000].join(","));
    put(
        out,
        &format!("{r}/accepted-100000-architectures.toml"),
        generic.replacen("[\"*\"]", &many, 1),
    );
    put(
        out,
        &format!("{r}/accepted-escapes-in-name.toml"),
        generic.replacen(
            "name = \"generic\"",
            "name = \"\\u001b[2J\\u001b]0;title\\u0007generic\\r\"",
            1,
        ),
    );
    put(
        out,
        &format!("{r}/refused-schema-version-2^40.toml"),
        generic.replacen("schema-version = 1", "schema-version = 1099511627776", 1),
    );
    put(
        out,
        &format!("{r}/refused-preset-tensor-parallel-size-zero.toml"),
        llama.replacen("tensor-parallel-size = 8", "tensor-parallel-size = 0", 1),
    );
    put(
        out,
        &format!("{r}/refused-derived-field-not-listed.toml"),
        generic.replacen("    \"head_dim\",\n", "", 1),
    );
    put(
        out,
        &format!("{r}/refused-unknown-key.toml"),
        generic.replacen("name = ", "nmae = ", 1),
    );
    // Nesting deeper than any parser should recurse: refused, not a stack overflow.
    put(
        out,
        &format!("{r}/refused-arrays-nested-10000-deep.toml"),
        format!(
            "x = {}{}\n{generic}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        ),
    );
    put(
        out,
        &format!("{r}/refused-tables-nested-10000-deep.toml"),
        format!(
            "x = {}1{}\n{generic}",
            "{a = ".repeat(10_000),
            "}".repeat(10_000)
        ),
    );
    let mut not_utf8 = generic.into_bytes();
    not_utf8.extend_from_slice(b"\n# \xff\xfe\n");
    put(out, &format!("{r}/refused-not-utf-8.toml"), not_utf8);
}
