//! The binary seeds and reproducers: bundles and kernel files (EDF), made from the
//! reference bundles with their real signatures and tiny payloads, and damaged the ways
//! issue 13 found fxb accepting or mishandling.

use std::io::Write as _;

use fxb::bundle::{Bundle, Edf, Manifest, NpuTensor, Signature, parse_manifest};

use super::seeds::{Seed, long_version_manifest, pretty, put};
use crate::common::{
    RawEntry, edf_bytes, raw_zip, read_reference, reference, reference_signatures,
};

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

pub fn bundles(out: &mut Vec<Seed>) {
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

pub fn edfs(out: &mut Vec<Seed>) {
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
