//! A host kernel file: the EDF container with the kernel's real signature and
//! placeholders, and a host payload where NPU machine code would be. Deterministic: the
//! same request gives the same bytes.

use ciborium::Value;
use fxb_backend_api::edf::{
    Axis, AxisList, AxisTag, DramLayout, DramShape, Edf, EdfBody, ElementType, IntraChipAxes,
    NpuTensor, Signature, TensorSignature,
};
use sha2::{Digest, Sha256};

use crate::layout::{Layout, Tensor};

/// The payload format, recorded in every file so a reader can tell host kernels apart.
pub const PAYLOAD_FORMAT: &str = "fxb-host-kernel/1";

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
    let payload = Value::Map(vec![(
        text("Host"),
        Value::Map(vec![
            (text("format"), text(PAYLOAD_FORMAT)),
            (text("kernel"), text(kernel)),
            (text("bucket"), text(bucket_label)),
            (text("signature_sha256"), text(&hex)),
            (
                text("tensors"),
                Value::Array(tensors.iter().map(|t| text(&t.name)).collect()),
            ),
        ]),
    )]);
    let inputs_ids = (0..layout.inputs.len() as u64).collect();
    let output_ids = (layout.inputs.len() as u64..tensors.len() as u64).collect();
    Edf {
        body: EdfBody {
            nodes: vec![payload],
            inputs: inputs_ids,
            outputs: output_ids,
            placeholders,
            copies: Value::Map(Vec::new()),
            signature,
        },
    }
}
