//! A host kernel file: the EDF container with the kernel's real signature and
//! placeholders, and a host payload where NPU machine code would be. Deterministic: the
//! same request gives the same bytes.
//!
//! The reference's EDF reader (its `inspect`, `diff` and runtime) knows only `Npu`, `Cpu`
//! and `Copy` nodes, and before it reads the signature it wants one `Npu` node whose task
//! data places every input and output in an I/O block, and a `Copy` node moving each in
//! (host to device) or out. So the file carries exactly that structure and nothing more:
//! no machine code (`binaries` empty, `binary_shape` all zero, no per-cluster binary
//! info), empty block buffers, no weights. The host payload rides in the `Npu` node under
//! `fxb_host`, a key the reference's reader skips. A runtime can never mistake the file
//! for RNGD code: there is no code to load, and the manifest names no `furiosa_compiler`.

use ciborium::Value;
use fxb_backend_api::edf::{
    Axis, AxisList, AxisTag, DramLayout, DramShape, Edf, EdfBody, ElementType, IntraChipAxes,
    NpuTensor, Signature, TensorSignature,
};
use sha2::{Digest, Sha256};

use crate::layout::{Layout, Tensor};

/// The payload format, recorded in every file so a reader can tell host kernels apart.
/// `/1` was a `{"Host": payload}` node, which the reference's reader refuses; `/2` is the
/// payload under `fxb_host` in an `Npu` node the reference accepts.
pub const PAYLOAD_FORMAT: &str = "fxb-host-kernel/2";
/// The key of the host payload inside the `Npu` node.
pub const PAYLOAD_KEY: &str = "fxb_host";

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn device_axes(tensor: &Tensor) -> Vec<Axis> {
    let mut stride = 1;
    let mut axes: Vec<Axis> = tensor
        .device
        .iter()
        .rev()
        .map(|(label, size)| {
            let axis = Axis::labelled(&label.to_string(), *size, Some(stride));
            stride *= size;
            axis
        })
        .collect();
    axes.reverse();
    axes
}

fn dram_shape(tensor: &Tensor) -> NpuTensor {
    let inter = if tensor.broadcast {
        vec![Axis {
            tag: AxisTag::Broadcast,
            size: 1,
            stride: None,
        }]
    } else {
        Vec::new()
    };
    NpuTensor::DramShape(DramShape {
        inner: DramLayout {
            inter_chip_axes: AxisList { inner: inter },
            intra_chip_axes: IntraChipAxes {
                axes: device_axes(tensor),
                offset: 0,
            },
        },
    })
}

fn tagged_shape(dims: &[u64]) -> Value {
    let axes = dims
        .iter()
        .enumerate()
        .map(|(i, size)| {
            Value::Map(vec![
                (
                    text("tag"),
                    Value::Map(vec![(
                        text("LabelStride"),
                        Value::Map(vec![
                            (
                                text("label"),
                                Value::Map(vec![(text("inner"), text(&i.to_string()))]),
                            ),
                            (text("stride"), Value::Integer(1.into())),
                        ]),
                    )]),
                ),
                (text("size"), Value::Integer((*size).into())),
            ])
        })
        .collect();
    Value::Map(vec![(
        text("TaggedShape"),
        Value::Map(vec![(
            text("inner"),
            Value::Map(vec![(text("inner"), Value::Array(axes))]),
        )]),
    )])
}

fn signature_of(tensor: &Tensor) -> TensorSignature {
    TensorSignature {
        npu_tensor: dram_shape(tensor),
        intra_chip_size: None,
        original_tensor: tagged_shape(&tensor.logical),
        element_type: ElementType(tensor.dtype.to_string()),
    }
}

/// The kernel's signature as the EDF records it.
pub fn signature(layout: &Layout) -> Signature {
    Signature {
        inputs: layout
            .inputs
            .iter()
            .map(|t| (signature_of(t), t.in_place))
            .collect(),
        outputs: layout.outputs.iter().map(signature_of).collect(),
    }
}

fn placeholder(tensor: &Tensor) -> Value {
    let shape = ciborium::Value::serialized(&dram_shape(tensor)).unwrap_or(Value::Null);
    Value::Map(vec![
        (text("shape"), shape),
        (text("element_type"), text(tensor.dtype)),
        (text("buffer"), Value::Bytes(Vec::new())),
        (text("buffer_type"), text("Dram")),
        (text("name"), text(&tensor.name)),
        (text("source"), text("Unknown")),
        (text("metadata"), Value::Array(Vec::new())),
    ])
}

/// The whole file for `kernel` × `bucket_label`.
pub fn kernel_file(kernel: &str, bucket_label: &str, layout: &Layout) -> Edf {
    let tensors: Vec<&Tensor> = layout.inputs.iter().chain(&layout.outputs).collect();
    let placeholders = Value::Map(vec![(
        text("inner"),
        Value::Map(
            tensors
                .iter()
                .enumerate()
                .map(|(id, t)| (Value::Integer(id.into()), placeholder(t)))
                .collect(),
        ),
    )]);
    let signature = signature(layout);
    // The payload names the computation instead of encoding it: what the kernel is, and a
    // digest of its signature so two files can be compared without parsing them.
    let mut digest = Sha256::new();
    digest.update(kernel.as_bytes());
    digest.update(bucket_label.as_bytes());
    let (inputs, outputs) = signature.render();
    for line in inputs.iter().chain(&outputs) {
        digest.update(line.as_bytes());
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let payload = Value::Map(vec![
        (text("format"), text(PAYLOAD_FORMAT)),
        (text("kernel"), text(kernel)),
        (text("bucket"), text(bucket_label)),
        (text("signature_sha256"), text(&hex)),
        (
            text("tensors"),
            Value::Array(tensors.iter().map(|t| text(&t.name)).collect()),
        ),
    ]);
    let inputs_ids = (0..layout.inputs.len() as u64).collect();
    let output_ids = (layout.inputs.len() as u64..tensors.len() as u64).collect();
    Edf {
        body: EdfBody {
            nodes: nodes(&signature, layout.inputs.len() as u64, payload),
            inputs: inputs_ids,
            outputs: output_ids,
            placeholders,
            copies: Value::Map(Vec::new()),
            signature,
        },
    }
}

fn int(n: u64) -> Value {
    Value::Integer(n.into())
}

/// The nodes of a host kernel file: one `Npu` node holding no code, whose task data puts
/// tensor `id` (inputs first, then outputs, as the EDF numbers them) in I/O block `id` of
/// the tensor's size — the size the reference's `inspect` prints — then a `Copy` node per
/// input (host to device) and per output (device to host).
fn nodes(signature: &Signature, inputs: u64, payload: Value) -> Vec<Value> {
    let sizes: Vec<u64> = signature
        .inputs
        .iter()
        .map(|(t, _)| t)
        .chain(&signature.outputs)
        .map(|t| {
            t.size_bytes()
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0)
        })
        .collect();
    let placement = |id: u64| {
        Value::Map(vec![
            (text("tensor_index"), int(id)),
            (text("block_index"), int(id)),
            (text("offset"), int(0)),
            (text("size_in_bytes"), int(sizes[id as usize])),
        ])
    };
    let all = 0..sizes.len() as u64;
    let task_data = Value::Map(vec![
        (
            text("inputs"),
            Value::Array((0..inputs).map(placement).collect()),
        ),
        (
            text("outputs"),
            Value::Array(all.clone().skip(inputs as usize).map(placement).collect()),
        ),
        (
            text("io_blocks"),
            Value::Array(
                sizes
                    .iter()
                    .map(|size| {
                        Value::Map(vec![
                            (text("size"), int(*size)),
                            (text("kind"), text("NpuDram")),
                            (text("buffer"), Value::Bytes(Vec::new())),
                        ])
                    })
                    .collect(),
            ),
        ),
        (text("io_block_map"), Value::Map(Vec::new())),
        (text("weight_block"), Value::Null),
        (text("dram_stack_blocks"), Value::Array(Vec::new())),
        (text("sram_stack_size"), int(0)),
    ]);
    let no_code = Value::Map(vec![
        (text("binaries"), Value::Bytes(Vec::new())),
        (text("binary_shape"), Value::Array(vec![int(0); 4])),
        (text("binary_info"), Value::Map(Vec::new())),
    ]);
    let npu = Value::Map(vec![(
        text("Npu"),
        Value::Map(vec![
            (text("task_binaries_map"), no_code),
            (text("task_data"), task_data),
            (text(PAYLOAD_KEY), payload),
        ]),
    )]);
    let copy = |id: u64| {
        Value::Map(vec![(
            text("Copy"),
            Value::Map(vec![
                (text("input"), int(id)),
                (text("output"), int(id)),
                (text("srcs_and_dsts"), Value::Array(Vec::new())),
                (text("is_htod"), Value::Bool(id < inputs)),
            ]),
        )])
    };
    std::iter::once(npu).chain(all.map(copy)).collect()
}
