//! EDF kernel files: `u64 LE length | CBOR {"Edf": {...}} | 16 zero bytes` (FORMAT.md §1.4).
//!
//! `inspect` and `diff` need only the `signature` of each kernel, while most of a real
//! EDF is machine code. So the reader walks the CBOR map itself and skips every other
//! value without buffering it — seeking over byte strings when the entry is stored
//! uncompressed — and decodes only `signature`. Memory stays flat whatever the size of the
//! kernel, and no length read from the file is trusted beyond the bytes that remain.

mod stream;

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use stream::{READ_AHEAD, ReadAhead};
pub use stream::{Seekable, Sequential, SkipRead};

/// The CBOR value type of the opaque parts of an EDF (`nodes`, `placeholders`, …).
pub use ciborium::Value as CborValue;

/// Bytes after the CBOR payload. Always zero in real files, and required by the reference.
pub const TRAILER_LEN: u64 = 16;
/// The `u64` length prefix.
const PREFIX_LEN: u64 = 8;
/// Nesting deeper than this is hostile, not a compiler's output.
const MAX_DEPTH: u32 = 256;
/// Map keys of the EDF body are short identifiers.
const MAX_KEY_LEN: u64 = 4096;

/// A whole EDF file, for writing: `{"Edf": body}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edf {
    #[serde(rename = "Edf")]
    pub body: EdfBody,
}

/// The EDF body. `nodes`, `placeholders` and `copies` are opaque to fxb's readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdfBody {
    pub nodes: Vec<ciborium::Value>,
    pub inputs: Vec<u64>,
    pub outputs: Vec<u64>,
    pub placeholders: ciborium::Value,
    pub copies: ciborium::Value,
    pub signature: Signature,
}

/// A kernel's I/O signature. Each input carries a flag that is true for buffers the kernel
/// updates in place (the KV cache).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub inputs: Vec<(TensorSignature, bool)>,
    pub outputs: Vec<TensorSignature>,
}

/// One tensor of a signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSignature {
    pub npu_tensor: NpuTensor,
    pub intra_chip_size: Option<ciborium::Value>,
    pub original_tensor: ciborium::Value,
    pub element_type: ElementType,
}

/// Where a tensor lives on the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NpuTensor {
    DramShape(DramShape),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DramShape {
    pub inner: DramLayout,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DramLayout {
    pub inter_chip_axes: AxisList,
    pub intra_chip_axes: IntraChipAxes,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AxisList {
    pub inner: Vec<Axis>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntraChipAxes {
    pub axes: Vec<Axis>,
    pub offset: u64,
}

/// One axis: a tag, a size in elements and (for intra-chip axes) a stride in elements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub tag: AxisTag,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AxisTag {
    LabelStride { label: Label, stride: u64 },
    Broadcast,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub inner: String,
}

/// The element type, kept as the compiler's variant name (`Bfloat16`, `RawInt32`, ...) so
/// a type this fxb has never seen still reads and prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ElementType(pub String);

impl ElementType {
    /// Width in bits, where known.
    pub fn bits(&self) -> Option<u64> {
        Some(match self.0.as_str() {
            "Float32" | "RawInt32" | "Int32" | "Uint32" => 32,
            "Bfloat16" | "Float16" | "Int16" | "RawInt16" => 16,
            "Bool" | "Int8" | "RawInt8" | "Uint8" | "RawUint8" | "Float8e4m3" | "Float8e5m2" => 8,
            "Float4e2m1" | "Int4" | "RawInt4" => 4,
            "Float64" | "Int64" | "RawInt64" => 64,
            _ => return None,
        })
    }

    /// The short name `inspect` prints: the reference's for every plain element type its
    /// reader knows (observed, one by one); the others follow the same pattern.
    pub fn short_name(&self) -> String {
        let name = match self.0.as_str() {
            "Bfloat16" => "bf16",
            "RawInt32" => "raw_i32",
            "Float32" => "f32",
            "Bool" => "bool",
            "Float16" => "f16",
            "Float64" => "f64",
            "Float8e4m3" => "f8_e4",
            "Float8e5m2" => "f8_e5",
            "Float4e2m1" => "f4_e2",
            "Float4e2m1Decoded" => "f4_e2_decoded",
            "RawInt4" => "raw_i4",
            "RawInt5" => "raw_i5",
            "RawInt9" => "raw_i9",
            "RawInt64" => "raw_i64",
            "RawUint8" => "raw_u8",
            "Index" => "index",
            "Int32" => "i32",
            "Int16" => "i16",
            "Int8" => "i8",
            "Int4" => "i4",
            "Int64" => "i64",
            "RawInt16" => "raw_i16",
            "RawInt8" => "raw_i8",
            "Uint8" => "u8",
            "Uint32" => "u32",
            other => other,
        };
        name.to_string()
    }
}

impl Axis {
    /// A `LabelStride` axis, the common case.
    pub fn labelled(label: &str, size: u64, stride: Option<u64>) -> Self {
        Axis {
            tag: AxisTag::LabelStride {
                label: Label {
                    inner: label.to_string(),
                },
                stride: 1,
            },
            size,
            stride,
        }
    }

    fn render(&self) -> String {
        let name = match &self.tag {
            AxisTag::LabelStride { label, stride } => format!("{}_{stride}", label.inner),
            AxisTag::Broadcast => "Broadcast".to_string(),
        };
        match self.stride {
            Some(stride) => format!("{name}={}:{stride}", self.size),
            None => format!("{name}={}", self.size),
        }
    }
}

impl TensorSignature {
    fn layout(&self) -> &DramLayout {
        let NpuTensor::DramShape(shape) = &self.npu_tensor;
        &shape.inner
    }

    /// Bytes of one chip's share: element width × product of the intra-chip axis sizes
    /// (inter-chip axes do not count). `None` for an element type of unknown width.
    pub fn size_bytes(&self) -> Option<u128> {
        let bits = u128::from(self.element_type.bits()?);
        let elements = self
            .layout()
            .intra_chip_axes
            .axes
            .iter()
            .try_fold(1u128, |acc, axis| acc.checked_mul(u128::from(axis.size)))?;
        Some((elements.checked_mul(bits)?).div_ceil(8))
    }

    /// `[inter-chip axes]|[intra-chip axes]`, e.g. `[]|[0_1=128256:4096, 1_1=4096:1]`.
    pub fn shape(&self) -> String {
        let join = |axes: &[Axis]| axes.iter().map(Axis::render).collect::<Vec<_>>().join(", ");
        let layout = self.layout();
        format!(
            "[{}]|[{}]",
            join(&layout.inter_chip_axes.inner),
            join(&layout.intra_chip_axes.axes)
        )
    }

    /// The `inspect` line for this tensor at `index`, exactly as the reference prints it.
    pub fn render_line(&self, index: usize) -> String {
        let size = self
            .size_bytes()
            .map_or_else(|| "?".to_string(), |s| s.to_string());
        format!(
            "    [{index}] size={size:<8}  shape={}  dtype={}",
            self.shape(),
            self.element_type.short_name()
        )
    }
}

impl Signature {
    /// The rendered input and output lines.
    pub fn render(&self) -> (Vec<String>, Vec<String>) {
        let inputs = self
            .inputs
            .iter()
            .enumerate()
            .map(|(i, (t, _))| t.render_line(i))
            .collect();
        let outputs = self
            .outputs
            .iter()
            .enumerate()
            .map(|(i, t)| t.render_line(i))
            .collect();
        (inputs, outputs)
    }
}

impl Edf {
    /// Write the EDF container: length prefix, CBOR, zero trailer. Returns bytes written.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<u64> {
        let mut cbor = Vec::new();
        ciborium::into_writer(self, &mut cbor)
            .map_err(|e| io::Error::other(format!("encoding EDF CBOR: {e}")))?;
        let len = cbor.len() as u64;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&cbor)?;
        out.write_all(&[0u8; TRAILER_LEN as usize])?;
        Ok(PREFIX_LEN + len + TRAILER_LEN)
    }

    /// The whole file in memory (for small kernels and tests).
    pub fn to_bytes(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

/// A window of exactly `remaining` bytes over another stream: the CBOR payload.
struct Bounded<'a, 'b> {
    inner: &'a mut ReadAhead<'b>,
    remaining: u64,
}

impl Read for Bounded<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if max == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

impl Bounded<'_, '_> {
    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.remaining {
            return Err(format!(
                "a CBOR item claims {n} bytes but only {} remain",
                self.remaining
            ));
        }
        self.inner.skip_bytes(n).map_err(|e| e.to_string())?;
        self.remaining -= n;
        Ok(())
    }

    /// A CBOR item head: major type and argument (`None` = indefinite length).
    ///
    /// This runs once per item, tens of thousands of times per kernel, so a head that
    /// lies whole in the read-ahead buffer (nearly all do) is decoded from there in one
    /// step rather than read a byte at a time through the `Read` layers.
    fn head(&mut self) -> Result<(u8, Option<u64>, u8), String> {
        const LONGEST: usize = 9;
        let early = |_| "the CBOR payload ends early".to_string();
        let peeked = if self.remaining >= LONGEST as u64 {
            self.inner.peek::<LONGEST>()
        } else {
            None
        };
        let bytes = match peeked {
            Some(bytes) => {
                let len = head_len(bytes[0]);
                self.inner.consume(len);
                self.remaining -= len as u64;
                bytes
            }
            None => {
                let mut bytes = [0u8; LONGEST];
                self.read_exact(&mut bytes[..1]).map_err(early)?;
                let len = head_len(bytes[0]);
                self.read_exact(&mut bytes[1..len]).map_err(early)?;
                bytes
            }
        };
        let [initial, a, b, c, d, e, f, g, h] = bytes;
        let major = initial >> 5;
        let info = initial & 0x1f;
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(u64::from(a)),
            25 => Some(u64::from(u16::from_be_bytes([a, b]))),
            26 => Some(u64::from(u32::from_be_bytes([a, b, c, d]))),
            27 => Some(u64::from_be_bytes([a, b, c, d, e, f, g, h])),
            31 if matches!(major, 2..=5 | 7) => None,
            _ => return Err(format!("malformed CBOR (initial byte 0x{initial:02x})")),
        };
        Ok((major, arg, info))
    }

    fn text(&mut self) -> Result<String, String> {
        match self.head()? {
            (3, Some(len), _) if len <= MAX_KEY_LEN => {
                let mut buf = vec![0u8; len as usize];
                self.read_exact(&mut buf)
                    .map_err(|_| "the CBOR payload ends early".to_string())?;
                String::from_utf8(buf).map_err(|_| "a CBOR key is not UTF-8".to_string())
            }
            _ => Err("expected a short text key".into()),
        }
    }

    /// Skip one whole item (nested items included) without keeping any of it.
    ///
    /// A loop over an explicit stack of open containers rather than a recursion: this
    /// runs once per item, tens of thousands of times per kernel, and the stack is
    /// bounded by [`MAX_DEPTH`]. Items are checked in the order a recursive walk would
    /// check them, so a malformed file fails with the same message.
    fn skip_value(&mut self) -> Result<(), String> {
        let mut open: Vec<Open> = Vec::new();
        let mut head = self.head()?;
        loop {
            // `head` is an item at depth `open.len()`: skip it or open it.
            let (major, arg, _) = head;
            if open.len() > MAX_DEPTH as usize {
                return Err("CBOR nested too deeply".into());
            }
            match (major, arg) {
                (0 | 1, _) | (7, Some(_)) => {}
                (2 | 3, Some(len)) => self.skip(len)?,
                (2 | 3, None) => loop {
                    match self.head()? {
                        (7, None, _) => break,
                        (m, Some(len), _) if m == major => self.skip(len)?,
                        _ => return Err("malformed indefinite-length CBOR string".into()),
                    }
                },
                (4 | 5, Some(n)) => {
                    let items = if major == 5 {
                        n.checked_mul(2)
                    } else {
                        Some(n)
                    };
                    let items = items.ok_or("a CBOR map is impossibly large")?;
                    open.push(Open::Items(items));
                }
                (4, None) => open.push(Open::Array),
                (5, None) => open.push(Open::Map { value_next: false }),
                (6, _) => open.push(Open::Items(1)),
                (7, None) => return Err("unexpected CBOR break".into()),
                _ => return Err("malformed CBOR".into()),
            }
            // The next item, closing containers that are done.
            head = loop {
                match open.last_mut() {
                    None => return Ok(()),
                    Some(Open::Items(0)) => {
                        open.pop();
                    }
                    Some(Open::Items(left)) => {
                        *left -= 1;
                        break self.head()?;
                    }
                    // A break may end an indefinite container only where its next key
                    // or element would start; as a map's value it is an error (above).
                    Some(Open::Map { value_next }) if *value_next => {
                        *value_next = false;
                        break self.head()?;
                    }
                    Some(open_container) => {
                        let next = self.head()?;
                        if let (7, None, _) = next {
                            open.pop();
                            continue;
                        }
                        if let Open::Map { value_next } = open_container {
                            *value_next = true;
                        }
                        break next;
                    }
                }
            };
        }
    }
}

/// The bytes of an item head: the initial byte and the argument bytes it announces.
fn head_len(initial: u8) -> usize {
    match initial & 0x1f {
        24 => 2,
        25 => 3,
        26 => 5,
        27 => 9,
        _ => 1,
    }
}

/// A container [`Bounded::skip_value`] is inside of.
enum Open {
    /// A definite array or map (or a tag), with the items still to come.
    Items(u64),
    /// An indefinite-length array, ended by a break.
    Array,
    /// An indefinite-length map: a break or a key next, or the value of the key just read.
    Map { value_next: bool },
}

/// Read an EDF from `stream` and return its signature (empty when the file has none, as
/// the reference allows). `entry_size`, when known, must equal `8 + N + 16`.
///
/// The stream is read through a buffer of at most 64 KiB, so this may read past the
/// EDF's end when `stream` goes on after it.
pub fn read_signature(
    stream: &mut dyn SkipRead,
    entry_size: Option<u64>,
) -> Result<Signature, String> {
    let capacity = entry_size.map_or(READ_AHEAD, |size| {
        usize::try_from(size).map_or(READ_AHEAD, |size| size.min(READ_AHEAD))
    });
    let stream = &mut ReadAhead::new(stream, capacity);
    let mut prefix = [0u8; PREFIX_LEN as usize];
    stream
        .read_exact(&mut prefix)
        .map_err(|_| "shorter than its 8-byte length prefix".to_string())?;
    let cbor_len = u64::from_le_bytes(prefix);
    if let Some(size) = entry_size {
        let expected = cbor_len.checked_add(PREFIX_LEN + TRAILER_LEN);
        if expected != Some(size) {
            return Err(format!(
                "its length prefix says {cbor_len} bytes of CBOR, which does not fit a {size}-byte file (8 + CBOR + 16)"
            ));
        }
    }
    let mut cbor = Bounded {
        inner: stream,
        remaining: cbor_len,
    };
    match cbor.head()? {
        (5, Some(1), _) => {}
        _ => return Err("the CBOR payload is not a one-entry map".into()),
    }
    if cbor.text()? != "Edf" {
        return Err("the CBOR payload is not an `Edf` map".into());
    }
    let fields = match cbor.head()? {
        (5, Some(n), _) => n,
        _ => return Err("`Edf` is not a map".into()),
    };
    let mut signature = None;
    let mut required = ["nodes", "inputs", "outputs", "placeholders"].map(|k| (k, false));
    for _ in 0..fields {
        let key = cbor.text()?;
        if let Some(slot) = required.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = true;
        }
        if key == "signature" {
            let parsed: Signature = ciborium::from_reader(&mut cbor)
                .map_err(|e| format!("its `signature` does not decode: {}", cbor_error(&e)))?;
            signature = Some(parsed);
        } else {
            cbor.skip_value()?;
        }
    }
    if let Some((missing, _)) = required.iter().find(|(_, seen)| !seen) {
        return Err(format!("`Edf` has no `{missing}`"));
    }
    if cbor.remaining != 0 {
        return Err(format!("{} bytes follow the CBOR payload", cbor.remaining));
    }
    let mut trailer = [0u8; TRAILER_LEN as usize];
    stream
        .read_exact(&mut trailer)
        .map_err(|_| "the 16-byte trailer is missing".to_string())?;
    Ok(signature.unwrap_or_default())
}

/// A CBOR decoding error in words (ciborium's own `Display` is its `Debug`:
/// `Semantic(None, "missing field ...")`), with control characters escaped: the text
/// quotes bytes from the file.
fn cbor_error<T: std::fmt::Display>(error: &ciborium::de::Error<T>) -> String {
    let printable = |text: &str| -> String {
        text.chars()
            .map(|c| match c.is_control() {
                true => c.escape_default().to_string(),
                false => c.to_string(),
            })
            .collect()
    };
    match error {
        ciborium::de::Error::Io(e) => format!("cannot read it ({e})"),
        ciborium::de::Error::Syntax(at) => format!("malformed CBOR at byte {at} of the signature"),
        ciborium::de::Error::Semantic(Some(at), message) => {
            format!("{} (at byte {at} of the signature)", printable(message))
        }
        ciborium::de::Error::Semantic(None, message) => printable(message),
        ciborium::de::Error::RecursionLimitExceeded => "it nests too deeply".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(axes: Vec<Axis>, element: &str) -> TensorSignature {
        TensorSignature {
            npu_tensor: NpuTensor::DramShape(DramShape {
                inner: DramLayout {
                    inter_chip_axes: AxisList::default(),
                    intra_chip_axes: IntraChipAxes { axes, offset: 0 },
                },
            }),
            intra_chip_size: None,
            original_tensor: ciborium::Value::Null,
            element_type: ElementType(element.into()),
        }
    }

    fn sample() -> Edf {
        Edf {
            body: EdfBody {
                nodes: vec![ciborium::Value::Bytes(vec![7; 100_000])],
                inputs: vec![1],
                outputs: vec![2],
                placeholders: ciborium::Value::Map(vec![]),
                copies: ciborium::Value::Map(vec![]),
                signature: Signature {
                    inputs: vec![(
                        tensor(
                            vec![
                                Axis::labelled("0", 128256, Some(4096)),
                                Axis::labelled("1", 4096, Some(1)),
                            ],
                            "Bfloat16",
                        ),
                        false,
                    )],
                    outputs: vec![tensor(vec![], "Float32")],
                },
            },
        }
    }

    #[test]
    fn renders_like_the_reference() {
        let edf = sample();
        let (inputs, outputs) = edf.body.signature.render();
        assert_eq!(
            inputs,
            ["    [0] size=1050673152  shape=[]|[0_1=128256:4096, 1_1=4096:1]  dtype=bf16"]
        );
        assert_eq!(outputs, ["    [0] size=4         shape=[]|[]  dtype=f32"]);
    }

    #[test]
    fn round_trips_through_the_container_with_both_skip_strategies() {
        let edf = sample();
        let bytes = edf.to_bytes().expect("encodes");
        let len = bytes.len() as u64;
        let sig = read_signature(&mut Sequential(&bytes[..]), Some(len)).expect("reads");
        assert_eq!(sig, edf.body.signature);
        let sig = read_signature(&mut Seekable::new(io::Cursor::new(&bytes), len), Some(len))
            .expect("reads");
        assert_eq!(sig, edf.body.signature);
    }

    /// Issue 13: ciborium's errors reached users as its Debug text (`Semantic(None, ...)`).
    #[test]
    fn a_signature_that_does_not_decode_is_described_in_words() {
        let mut bytes = sample().to_bytes().expect("encodes");
        let at = bytes
            .windows(12)
            .position(|w| w == b"element_type")
            .expect("the key is in the file");
        bytes[at + 6] = b'\x07';
        let len = bytes.len() as u64;
        let err = read_signature(&mut Sequential(&bytes[..]), Some(len)).expect_err("refused");
        assert!(err.contains("missing field `element_type`"), "{err}");
        assert!(!err.contains("Semantic"), "{err}");
    }

    /// The recursive walk `skip_value` replaced, as the oracle for its results.
    fn recursive_skip(cbor: &mut Bounded<'_, '_>, depth: u32) -> Result<(), String> {
        let head = cbor.head()?;
        recursive_after(cbor, head, depth)
    }

    fn recursive_after(
        cbor: &mut Bounded<'_, '_>,
        (major, arg, _): (u8, Option<u64>, u8),
        depth: u32,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("CBOR nested too deeply".into());
        }
        match (major, arg) {
            (0 | 1, _) | (7, Some(_)) => Ok(()),
            (2 | 3, Some(len)) => cbor.skip(len),
            (2 | 3, None) => loop {
                match cbor.head()? {
                    (7, None, _) => return Ok(()),
                    (m, Some(len), _) if m == major => cbor.skip(len)?,
                    _ => return Err("malformed indefinite-length CBOR string".into()),
                }
            },
            (4 | 5, Some(n)) => {
                let items = if major == 5 {
                    n.checked_mul(2)
                } else {
                    Some(n)
                };
                for _ in 0..items.ok_or("a CBOR map is impossibly large")? {
                    recursive_skip(cbor, depth + 1)?;
                }
                Ok(())
            }
            (4 | 5, None) => loop {
                let head = cbor.head()?;
                if head.0 == 7 && head.1.is_none() {
                    return Ok(());
                }
                recursive_after(cbor, head, depth + 1)?;
                if major == 5 {
                    recursive_skip(cbor, depth + 1)?;
                }
            },
            (6, _) => recursive_skip(cbor, depth + 1),
            (7, None) => Err("unexpected CBOR break".into()),
            _ => Err("malformed CBOR".into()),
        }
    }

    /// Item soups: random heads, mostly small arguments, many containers and breaks.
    fn soup(seed: &mut u64, len: usize) -> Vec<u8> {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let mut bytes = Vec::new();
        while bytes.len() < len {
            let r = next();
            let major = (r % 8) as u8;
            let info = match (r >> 8) % 16 {
                0..=9 => ((r >> 16) % 4) as u8,
                10 => 24,
                11 => 25,
                12 => 31,
                13 => 27,
                _ => ((r >> 16) % 32) as u8,
            };
            bytes.push(major << 5 | info);
            match info {
                24 => bytes.push((r >> 24) as u8 % 8),
                25 => bytes.extend_from_slice(&[0, (r >> 24) as u8 % 8]),
                27 => bytes.extend_from_slice(&[(r >> 24) as u8 & 0x80, 0, 0, 0, 0, 0, 0, 1]),
                _ => {}
            }
        }
        bytes
    }

    #[test]
    fn the_skip_loop_fails_and_stops_where_the_recursive_walk_did() {
        let mut cases: Vec<Vec<u8>> = vec![
            [vec![0x81; 300], vec![0]].concat(),
            [vec![0x81; 256], vec![0]].concat(),
            [vec![0x9f; 257], vec![0xff; 257]].concat(),
            vec![0xbf, 0x01, 0xff],
            vec![0xbf, 0x01, 0x02, 0xff, 0x07],
            vec![0x5f, 0x41, 0x00, 0x61, 0x00, 0xff],
            vec![0x7f, 0x61, 0x00, 0xff, 0x00],
            vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0xc6, 0xc6, 0x82, 0x00],
            vec![0x1c],
            vec![],
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d;
        for i in 0..20_000 {
            cases.push(soup(&mut seed, 1 + i % 40));
        }
        for bytes in &cases {
            let run = |walk: &dyn Fn(&mut Bounded<'_, '_>) -> Result<(), String>| {
                let mut source = Sequential(&bytes[..]);
                let mut stream = ReadAhead::new(&mut source, bytes.len() + 1);
                let mut cbor = Bounded {
                    inner: &mut stream,
                    remaining: bytes.len() as u64,
                };
                let result = walk(&mut cbor);
                (result, cbor.remaining)
            };
            let expected = run(&|c| recursive_skip(c, 0));
            let got = run(&|c| c.skip_value());
            match (&expected.0, &got.0) {
                (Ok(()), Ok(())) => assert_eq!(expected.1, got.1, "{bytes:02x?}"),
                _ => assert_eq!(expected.0, got.0, "{bytes:02x?}"),
            }
        }
    }

    #[test]
    fn lies_about_lengths_are_caught() {
        let mut bytes = sample().to_bytes().expect("encodes");
        let len = bytes.len() as u64;
        assert!(read_signature(&mut Sequential(&bytes[..len as usize - 1]), None).is_err());
        bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = read_signature(&mut Sequential(&bytes[..]), Some(len)).expect_err("refused");
        assert!(err.contains("length prefix"), "{err}");
        let err = read_signature(&mut Sequential(&bytes[..]), None).expect_err("refused");
        assert!(!err.is_empty());
    }
}
