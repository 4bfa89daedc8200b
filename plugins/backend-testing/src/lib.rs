//! A backend for tests and benchmarks. Its behaviour is set by environment variables of
//! the process that loads it (tests set them per command):
//!
//! - `FXB_TESTING_BACKEND_ABI=N` — report ABI version N (a mismatch test);
//! - `FXB_TESTING_FAIL_ON=kernel:label` / `FXB_TESTING_PANIC_ON=kernel:label` — fail, or
//!   panic, compiling that entry (`*` matches any entry);
//! - `FXB_TESTING_SPIN_MS=N` — burn N ms of CPU per kernel (concurrency benchmark);
//! - `FXB_TESTING_SUBPROCESS_SECS=S` — compile through a child process that takes S
//!   seconds, the way a backend driving the vendor compiler would; cancellation kills it.
//!   A list gives entries their own times: `kernel:label=S,…` (`*=S` or a bare `S` for
//!   the rest; an entry the list does not cover compiles in-process, at once);
//! - `FXB_TESTING_PAYLOAD_BYTES=N` — N bytes of payload per kernel file.
//!
//! Kernel files are minimal EDFs (one input, one output) so that packaging is measured,
//! not compiling.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use fxb_backend_api::edf::{
    Axis, AxisList, DramLayout, DramShape, Edf, EdfBody, ElementType, IntraChipAxes, NpuTensor,
    Signature, TensorSignature,
};
use fxb_backend_api::{
    Backend, BackendError, Cancel, CompileRequest, CompileResponse, Description, ErrorCode, Role,
    TensorLine,
};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn abi_version() -> u32 {
    env("FXB_TESTING_BACKEND_ABI")
        .and_then(|v| v.parse().ok())
        .unwrap_or(fxb_backend_api::ABI_VERSION)
}

fn matches(var: &str, request: &CompileRequest) -> bool {
    env(var).is_some_and(|spec| {
        spec.split(',').any(|one| {
            one == "*" || one == format!("{}:{}", request.kernel, request.bucket.label())
        })
    })
}

/// How long the child-process compile of `request` takes: its own `kernel:label=S`, else
/// the default (`*=S` or a bare `S`), else none (compiled in-process).
fn subprocess_secs(request: &CompileRequest) -> Option<String> {
    let spec = env("FXB_TESTING_SUBPROCESS_SECS")?;
    let entry = format!("{}:{}", request.kernel, request.bucket.label());
    let mut default = None;
    for one in spec.split(',') {
        match one.split_once('=') {
            Some((name, secs)) if name == entry => return Some(secs.to_string()),
            Some(("*", secs)) => default = default.or(Some(secs)),
            None => default = default.or(Some(one)),
            Some(_) => {}
        }
    }
    default.map(str::to_string)
}

struct TestingBackend;

impl Backend for TestingBackend {
    fn describe(&self) -> Description {
        Description {
            name: "testing".into(),
            version: "0.1.0".into(),
            revision: "testing-1".into(),
            target_npu: "none".into(),
            roles: vec![Role::Compiler],
            manifest_tool: "fxb_testing_backend".into(),
            summary: "test backend (failures, panics, slow and subprocess compiles)".into(),
            tensor_parallel_sizes: Vec::new(),
            tools: Vec::new(),
            manifest_versions: Default::default(),
        }
    }

    fn compile(
        &self,
        request: &CompileRequest,
        cancel: Cancel<'_>,
    ) -> Result<CompileResponse, BackendError> {
        if matches("FXB_TESTING_PANIC_ON", request) {
            panic!(
                "testing backend: asked to panic on {}:{}",
                request.kernel,
                request.bucket.label()
            );
        }
        if matches("FXB_TESTING_FAIL_ON", request) {
            return Err(BackendError::new(
                ErrorCode::CompileFailed,
                format!(
                    "testing backend: asked to fail on {}:{}",
                    request.kernel,
                    request.bucket.label()
                ),
            ));
        }
        if let Some(ms) = env("FXB_TESTING_SPIN_MS").and_then(|v| v.parse::<u64>().ok()) {
            spin(Duration::from_millis(ms), cancel)?;
        }
        let edf = kernel_file(
            env("FXB_TESTING_PAYLOAD_BYTES")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        );
        let io = |e: std::io::Error| {
            BackendError::new(ErrorCode::Io, format!("{}: {e}", request.output))
        };
        match subprocess_secs(request) {
            Some(secs) => {
                // The "compiler" is a child process fed a source file; it writes the output.
                let source = format!("{}.src", request.output);
                std::fs::write(&source, edf.to_bytes().map_err(io)?).map_err(io)?;
                let result = run_child(&secs, &source, &request.output, cancel);
                let _ = std::fs::remove_file(&source);
                result?;
            }
            None => {
                let mut file = std::fs::File::create(&request.output).map_err(io)?;
                edf.write_to(&mut file).map_err(io)?;
                file.flush().map_err(io)?;
            }
        }
        let bytes = std::fs::metadata(&request.output).map_err(io)?.len();
        let (inputs, outputs) = edf.body.signature.render();
        let named = |lines: Vec<String>| {
            lines
                .into_iter()
                .map(|line| TensorLine {
                    name: "x".into(),
                    line,
                })
                .collect()
        };
        Ok(CompileResponse {
            bytes,
            inputs: named(inputs),
            outputs: named(outputs),
        })
    }
}

fn spin(duration: Duration, cancel: Cancel<'_>) -> Result<(), BackendError> {
    let start = Instant::now();
    let mut x: u64 = 1;
    while start.elapsed() < duration {
        cancel.check()?;
        for _ in 0..10_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
        }
        std::hint::black_box(x);
    }
    Ok(())
}

/// Run `sleep S && cp source output`, polling for cancellation every 20 ms. The compiler
/// runs in a process group of its own, so cancelling kills it and everything it started,
/// and it holds none of fxb's standard streams.
fn run_child(
    secs: &str,
    source: &str,
    output: &str,
    cancel: Cancel<'_>,
) -> Result<(), BackendError> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut child = Command::new("sh")
        .args(["-c", "sleep \"$1\" && cp \"$2\" \"$3\"", "compiler"])
        .args([secs, source, output])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| BackendError::new(ErrorCode::Io, format!("starting the compiler: {e}")))?;
    loop {
        if cancel.is_cancelled() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return Err(BackendError::cancelled());
        }
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(BackendError::new(
                    ErrorCode::CompileFailed,
                    format!("the compiler exited with {status}"),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(BackendError::new(ErrorCode::Io, e.to_string())),
        }
    }
}

fn kernel_file(payload: usize) -> Edf {
    let tensor = TensorSignature {
        npu_tensor: NpuTensor::DramShape(DramShape {
            inner: DramLayout {
                inter_chip_axes: AxisList::default(),
                intra_chip_axes: IntraChipAxes {
                    axes: vec![Axis::labelled("0", 1, Some(1))],
                    offset: 0,
                },
            },
        }),
        intra_chip_size: None,
        original_tensor: ciborium_null(),
        element_type: ElementType("RawInt32".into()),
    };
    Edf {
        body: EdfBody {
            nodes: vec![fxb_backend_api::edf::CborValue::Bytes(vec![0u8; payload])],
            inputs: vec![0],
            outputs: vec![1],
            placeholders: ciborium_null(),
            copies: ciborium_null(),
            signature: Signature {
                inputs: vec![(tensor.clone(), false)],
                outputs: vec![tensor],
            },
        },
    }
}

fn ciborium_null() -> fxb_backend_api::edf::CborValue {
    fxb_backend_api::edf::CborValue::Null
}

fxb_backend_api::export_backend!(TestingBackend, abi_version: abi_version());
