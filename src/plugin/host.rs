//! The sandbox. One wasmtime [`Engine`] per process; per call a fresh [`Store`] and
//! instance from a pre-instantiated module, with a fuel budget and a memory cap, and an
//! empty linker (a plugin can import nothing, so it can reach nothing). Every way a call
//! can go wrong — endless loop, memory grab, runaway recursion, trap, panic, bad reply —
//! becomes a [`PluginCallError`] naming the plugin and the cause.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use fxb_plugin_api::v1::{Envelope, PluginError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmtime::{
    Config, Enabled, Engine, Instance, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap,
};

/// Concurrent plugin instances the pooling allocator holds slots for.
const POOL_SLOTS: u32 = 32;

use super::cache::CompiledCache;
use super::discovery::Discovered;

/// Per-call limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel units (roughly wasm instructions) per call.
    pub fuel: u64,
    /// Largest linear memory a call may grow to, in bytes.
    pub memory_bytes: usize,
    /// Largest reply a plugin may return, in bytes.
    pub max_output: usize,
}

impl Default for Limits {
    /// A fingerprint or plan costs well under a million fuel units; five billion stops
    /// an endless loop in under a second on this 2-core machine (measured: one billion
    /// took 0.09 s). 256 MiB of memory and a 16 MiB reply are far beyond any honest
    /// plugin.
    fn default() -> Self {
        Limits {
            fuel: 5_000_000_000,
            memory_bytes: 256 << 20,
            max_output: 16 << 20,
        }
    }
}

/// Bytes of a linear memory a finished call may leave mapped for the next call on its
/// pool slot. The pool then resets only the pages the call wrote (found with Linux's
/// `PAGEMAP_SCAN`) instead of unmapping the whole memory, which the next call faulted
/// back in page by page: a third of a warm call went to page faults and `madvise`. Far
/// above what a plan or fingerprint touches; pages past it are unmapped as before.
const KEEP_RESIDENT: usize = 8 << 20;

/// How instances get their memory, fastest first.
#[derive(Debug, Clone, Copy)]
enum Allocation {
    /// The pool, resetting only the pages a call wrote (Linux 6.7 and later).
    PoolKeepingPages,
    /// The pool, unmapping a memory when its instance ends.
    Pool,
    /// A fresh reservation per instance.
    PerInstance,
}

fn config(allocation: Allocation) -> Config {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.max_wasm_stack(1 << 20);
    if let Allocation::PoolKeepingPages | Allocation::Pool = allocation {
        // A fresh instance per call: a pool of pre-reserved slots makes instantiation
        // cheap (no mmap/munmap of a 4 GiB reservation per call).
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(POOL_SLOTS)
            .total_memories(POOL_SLOTS)
            .total_tables(POOL_SLOTS)
            .max_memory_size(Limits::default().memory_bytes);
        if let Allocation::PoolKeepingPages = allocation {
            // Without the scan, keeping pages would mean a memset of all of them per
            // call; `Yes` makes the engine fail to build rather than do that.
            pool.linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT)
                .pagemap_scan(Enabled::Yes);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// The process-wide engine: compiled code is only valid for the engine that made it.
pub(crate) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut failures = Vec::new();
        for allocation in [Allocation::PoolKeepingPages, Allocation::Pool] {
            match Engine::new(&config(allocation)) {
                Ok(engine) => return engine,
                Err(e) => failures.push(format!("{allocation:?}: {e}")),
            }
        }
        tracing::debug!(
            "pooling allocator unavailable ({}); allocating per instance",
            failures.join("; ")
        );
        // This configuration is always valid; fall back to the defaults regardless.
        Engine::new(&config(Allocation::PerInstance)).unwrap_or_default()
    })
}

/// Loads plugins: compiled-module cache, then instantiation checks.
#[derive(Clone)]
pub struct PluginHost {
    cache: CompiledCache,
    limits: Limits,
    /// Modules already loaded by this host, by wasm sha256: a process fingerprinting
    /// many configs loads each plugin once.
    loaded: Arc<Mutex<HashMap<String, InstancePre<CallState>>>>,
}

/// A plugin ready to be called.
pub struct LoadedPlugin {
    label: String,
    pre: InstancePre<CallState>,
    limits: Limits,
}

/// A failed plugin call: which plugin, which operation, and why.
#[derive(Debug, thiserror::Error)]
#[error("plugin {plugin} failed in `{operation}`: {failure}")]
pub struct PluginCallError {
    pub plugin: String,
    pub operation: String,
    pub failure: CallFailure,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallFailure {
    #[error("it does not implement `{0}`")]
    MissingOperation(String),
    #[error("it ran out of fuel after {0} units (an endless loop?)")]
    OutOfFuel(u64),
    #[error("it exceeded the memory limit of {} MiB", .0 >> 20)]
    MemoryLimit(usize),
    #[error("it overflowed its stack (endless recursion?)")]
    StackOverflow,
    #[error("it panicked: {0}")]
    Panicked(String),
    #[error("it trapped: {0}")]
    Trapped(String),
    #[error("its reply of {size} bytes is larger than the limit of {limit} bytes")]
    OutputTooLarge { size: u64, limit: usize },
    #[error("its reply is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("its reply has the wrong shape: {0}")]
    WrongShape(String),
    #[error("{0}")]
    Plugin(PluginError),
    #[error("the module cannot be compiled or instantiated: {0}")]
    Load(String),
    #[error("it broke the calling convention: {0}")]
    Abi(String),
}

/// Store data: the memory limiter, which remembers whether it said no.
struct CallState {
    memory_limit: usize,
    refused_memory: bool,
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.refused_memory = true;
            // An error (not `Ok(false)`) so the guest traps instead of limping on.
            return Err(wasmtime::Error::msg("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cache", &self.cache)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    pub fn new(cache: CompiledCache, limits: Limits) -> Self {
        PluginHost {
            cache,
            limits,
            loaded: Arc::default(),
        }
    }

    /// Compile (or load from the cache) and pre-instantiate a discovered plugin.
    pub fn load(&self, plugin: &Discovered) -> Result<LoadedPlugin, PluginCallError> {
        let label = plugin.label();
        let sha256 = plugin.sha256();
        if let Some(pre) = self.loaded.lock().ok().and_then(|l| l.get(sha256).cloned()) {
            return Ok(LoadedPlugin {
                label,
                pre,
                limits: self.limits,
            });
        }
        let fail = |failure| PluginCallError {
            plugin: label.clone(),
            operation: "load".into(),
            failure,
        };
        let module = self
            .cache
            .module(engine(), sha256, plugin.bytes())
            .map_err(|e| fail(CallFailure::Load(format!("{e:#}"))))?;
        let linker: Linker<CallState> = Linker::new(engine());
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| fail(CallFailure::Load(format!("{e:#}"))))?;
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(sha256.to_string(), pre.clone());
        }
        Ok(LoadedPlugin {
            label,
            pre,
            limits: self.limits,
        })
    }
}

impl LoadedPlugin {
    /// The plugin's name and where it came from, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Call `operation` with a typed request and decode the typed reply.
    pub fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        operation: &str,
        request: &Req,
    ) -> Result<Resp, PluginCallError> {
        let input = serde_json::to_vec(request)
            .map_err(|e| self.error(operation, CallFailure::Abi(e.to_string())))?;
        let reply = self.call_raw(operation, &input)?;
        // One pass for a well-formed reply. Any other is decoded again in two steps,
        // which tell bad JSON from a wrong shape, with the same words as always.
        if let Ok(envelope) = serde_json::from_slice::<Envelope<Resp>>(&reply) {
            return match envelope {
                Envelope::Ok(response) => Ok(response),
                Envelope::Err(error) => Err(self.error(operation, CallFailure::Plugin(error))),
            };
        }
        let value: serde_json::Value = serde_json::from_slice(&reply)
            .map_err(|e| self.error(operation, CallFailure::InvalidJson(e.to_string())))?;
        match serde_json::from_value::<Envelope<Resp>>(value) {
            Ok(Envelope::Ok(response)) => Ok(response),
            Ok(Envelope::Err(error)) => Err(self.error(operation, CallFailure::Plugin(error))),
            Err(e) => Err(self.error(operation, CallFailure::WrongShape(e.to_string()))),
        }
    }

    /// Call `operation` with raw request bytes; returns the raw reply.
    pub fn call_raw(&self, operation: &str, input: &[u8]) -> Result<Vec<u8>, PluginCallError> {
        let mut store = Store::new(
            engine(),
            CallState {
                memory_limit: self.limits.memory_bytes,
                refused_memory: false,
            },
        );
        store.limiter(|state| state);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| self.error(operation, CallFailure::Load(e.to_string())))?;
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.error(operation, CallFailure::Load(format!("{e:#}"))))?;
        let abi = |detail: &str| self.error(operation, CallFailure::Abi(detail.to_string()));
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| abi("it exports no `memory`"))?;
        let alloc = instance
            .get_typed_func::<u32, u32>(&mut store, "fxb_alloc")
            .map_err(|_| abi("it exports no `fxb_alloc(i32) -> i32`"))?;
        let function = instance
            .get_typed_func::<(u32, u32), u64>(&mut store, &format!("fxb_{operation}"))
            .map_err(|_| self.error(operation, CallFailure::MissingOperation(operation.into())))?;
        let len =
            u32::try_from(input.len()).map_err(|_| abi("the request is larger than 4 GiB"))?;
        let ptr = alloc
            .call(&mut store, len)
            .map_err(|e| self.trap(operation, &mut store, &instance, e))?;
        memory
            .write(&mut store, ptr as usize, input)
            .map_err(|_| abi("`fxb_alloc` returned a buffer outside its memory"))?;
        let packed = function
            .call(&mut store, (ptr, len))
            .map_err(|e| self.trap(operation, &mut store, &instance, e))?;
        let (out_ptr, out_len) = ((packed >> 32) as usize, packed & 0xffff_ffff);
        if out_len > self.limits.max_output as u64 {
            return Err(self.error(
                operation,
                CallFailure::OutputTooLarge {
                    size: out_len,
                    limit: self.limits.max_output,
                },
            ));
        }
        let mut reply = vec![0u8; out_len as usize];
        memory
            .read(&store, out_ptr, &mut reply)
            .map_err(|_| abi("its reply points outside its memory"))?;
        Ok(reply)
    }

    fn error(&self, operation: &str, failure: CallFailure) -> PluginCallError {
        PluginCallError {
            plugin: self.label.clone(),
            operation: operation.to_string(),
            failure,
        }
    }

    /// Turn a trap into a cause a person can act on, reading back a panic message when
    /// the plugin left one.
    fn trap(
        &self,
        operation: &str,
        store: &mut Store<CallState>,
        instance: &Instance,
        error: wasmtime::Error,
    ) -> PluginCallError {
        let failure = if store.data().refused_memory {
            CallFailure::MemoryLimit(self.limits.memory_bytes)
        } else {
            match error.downcast_ref::<Trap>() {
                Some(Trap::OutOfFuel) => CallFailure::OutOfFuel(self.limits.fuel),
                Some(Trap::StackOverflow) => CallFailure::StackOverflow,
                Some(Trap::UnreachableCodeReached) => match panic_message(store, instance) {
                    Some(message) => CallFailure::Panicked(message),
                    None => CallFailure::Trapped(Trap::UnreachableCodeReached.to_string()),
                },
                Some(trap) => CallFailure::Trapped(trap.to_string()),
                None => CallFailure::Trapped(format!("{error:#}")),
            }
        };
        self.error(operation, failure)
    }
}

/// The message a Rust guest's panic hook stored, if any.
fn panic_message(store: &mut Store<CallState>, instance: &Instance) -> Option<String> {
    store.set_fuel(10_000_000).ok()?;
    let function = instance
        .get_typed_func::<(), u64>(&mut *store, "fxb_panic_message")
        .ok()?;
    let packed = function.call(&mut *store, ()).ok()?;
    let (ptr, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    let memory = instance.get_memory(&mut *store, "memory")?;
    let mut message = vec![0u8; len.min(64 * 1024)];
    memory.read(&*store, ptr, &mut message).ok()?;
    let message = String::from_utf8_lossy(&message).trim().replace('\n', " ");
    (!message.is_empty()).then_some(message)
}

/// Compile a module from its bytes (the slow path the cache avoids).
pub(crate) fn compile(bytes: &[u8]) -> wasmtime::Result<Module> {
    Module::new(engine(), bytes)
}
