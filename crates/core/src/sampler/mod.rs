//! Sampling: which threads to interrupt, when, and what the interrupt records.
//!
//! One trait, [`Sampler`], hides how samples are taken; the rest of the crate only sees the
//! [`RawProfile`](crate::profile::RawProfile) a stopped sampler returns. Both platforms run a
//! sampler thread that reads every thread's CPU clock and interrupts the threads that used a
//! period's worth of CPU ([`policy`], docs/sampling.md): on Linux with a signal whose handler walks the
//! stack, on macOS by suspending the thread and walking it from the sampler thread
//! ([`crate::platform`]).

pub mod policy;

use crate::profile::RawProfile;

/// What a sampler is asked to do.
#[derive(Clone, Debug)]
pub struct SamplerConfig {
    /// Samples per CPU-second of each thread (1..=10000).
    pub frequency: u32,
    /// Real-time signal to use (Linux); `None` picks the first free one above SIGRTMIN+4.
    pub signal: Option<i32>,
    /// Stop recording after this many samples (the session ends cleanly, marked partial).
    pub max_samples: Option<u64>,
    /// Stop recording this long after the start (the session ends cleanly, marked partial).
    pub max_duration_ns: Option<u64>,
    /// CPU samples, wall-clock samples, or both.
    pub mode: Mode,
    /// Wall-clock samples per second of each thread, running or not (`Wall`, `Both`).
    pub wall_frequency: u32,
    /// What times CPU samples.
    pub timer: Timer,
}

/// What decides when a thread is interrupted for a CPU sample.
///
/// What a sample costs is mostly how its signal reaches the thread. Under a hypervisor (the 2-vCPU
/// development VM) a signal the sampler thread sends to a thread running on another CPU is an
/// inter-processor interrupt, and a perf event's hrtimer is a timer interrupt of its own: either
/// costs tens of µs of the sampled thread per sample (`timer_cost` example, `npm run bench --
/// timers`). A POSIX CPU-clock timer fires at the scheduler tick of the thread's own CPU, which runs
/// anyway, so a sample costs its delivery alone; the tick bounds its rate. `Auto` takes it where the
/// tick is at least twice the asked rate, and the sampler thread otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timer {
    /// `CpuClock` where the kernel's tick is at least twice the sampling rate (Linux: 99 Hz on a
    /// 250 Hz or 1000 Hz kernel), else `SamplerThread`.
    #[default]
    Auto,
    /// The sampler thread reads each thread's CPU clock at the sampling rate and signals it.
    SamplerThread,
    /// Per-thread CPU-time timers (Linux perf events); the sampler thread where the kernel refuses.
    PerfEvent,
    /// Per-thread POSIX CPU-clock timers (Linux `timer_create`), fired at the scheduler tick of the
    /// thread's own CPU: at most the kernel's tick rate of samples per thread-CPU-second.
    CpuClock,
}

impl Timer {
    /// Every timer, the default first: the values option `timer` accepts (JS reads them from the addon).
    pub const ALL: [Timer; 4] = [Timer::Auto, Timer::SamplerThread, Timer::PerfEvent, Timer::CpuClock];

    pub fn name(self) -> &'static str {
        match self {
            Timer::Auto => "auto",
            Timer::PerfEvent => "perf-event",
            Timer::SamplerThread => "sampler-thread",
            Timer::CpuClock => "cpu-clock",
        }
    }

    /// The timer of this option value ([`Timer::name`]), if there is one.
    pub fn from_name(name: &str) -> Option<Timer> {
        Timer::ALL.into_iter().find(|t| t.name() == name)
    }

    /// What times the CPU samples of a session at `frequency` on a kernel that ticks `tick_hz` times
    /// a second (None: unknown, or no tick-driven timers on this platform): `Auto` decided, any
    /// other timer as asked.
    pub fn resolve(self, frequency: u32, tick_hz: Option<u32>) -> Timer {
        match self {
            Timer::Auto if tick_hz.is_some_and(|hz| u64::from(frequency) * 2 <= u64::from(hz)) => Timer::CpuClock,
            Timer::Auto => Timer::SamplerThread,
            asked => asked,
        }
    }
}

/// What a session samples. CPU samples answer "where does CPU go"; wall samples, taken on every
/// thread at a fixed wall-clock rate whether it runs or waits, answer "where does time go" (a
/// worker blocked on the JS thread shows in wall samples only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Cpu,
    Wall,
    Both,
}

impl Mode {
    /// Every mode, the default first: the values option `mode` accepts (JS reads them from the addon).
    pub const ALL: [Mode; 3] = [Mode::Cpu, Mode::Wall, Mode::Both];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Cpu => "cpu",
            Mode::Wall => "wall",
            Mode::Both => "both",
        }
    }

    /// The mode of this option value ([`Mode::name`]), if there is one.
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn cpu(self) -> bool {
        self != Mode::Wall
    }

    pub fn wall(self) -> bool {
        self != Mode::Cpu
    }
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            frequency: 99,
            signal: None,
            max_samples: None,
            max_duration_ns: None,
            mode: Mode::Cpu,
            wall_frequency: 49,
            timer: Timer::Auto,
        }
    }
}

/// Why a sampler could not start. Each variant names what to change.
#[derive(Debug, Clone, PartialEq)]
pub enum StartError {
    AlreadyRunning,
    /// Another copy of the probe (a second install loaded in the same process) owns sampling.
    OtherProbeRunning,
    SignalTaken { signal: i32 },
    NoFreeSignal,
    InvalidSignal { signal: i32, min: i32, max: i32 },
    Unsupported(&'static str),
    Os(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::AlreadyRunning => write!(f, "a perfprobe session is already running in this process"),
            StartError::OtherProbeRunning => write!(
                f,
                "another copy of rspack-perfprobe is already sampling this process (two installs loaded?); this copy will not start a second sampler"
            ),
            StartError::SignalTaken { signal } => write!(
                f,
                "option `signal`: signal {signal} already has a handler installed by someone else; pick another real-time signal or leave `signal` unset to choose a free one"
            ),
            StartError::NoFreeSignal => write!(
                f,
                "every real-time signal already has a handler; set option `signal` to one you can spare"
            ),
            StartError::InvalidSignal { signal, min, max } => write!(
                f,
                "option `signal`: {signal} is not a real-time signal; accepted values are {min}..={max}"
            ),
            StartError::Unsupported(what) => write!(f, "not supported on this platform: {what}"),
            StartError::Os(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A platform's sampler: started once per session, stopped into a profile.
pub trait Sampler: Send {
    fn stop(self: Box<Self>) -> RawProfile;
    /// Whether it stopped by itself (a bound, `max_samples` or `max_duration_ns`, was reached).
    fn finished(&self) -> bool;
    /// Why the timer asked for is not the one timing samples (the profile says it too).
    fn timer_fallback(&self) -> Option<&str> {
        None
    }
}

/// Builds, on a thread of its own, what the first session's start would build on its caller's
/// thread: on Linux the sample store's 4 MB, made resident (1.7-1.8 ms of page faults). For a
/// caller that knows a session will start soon: the plugin, when Rspack applies it, ~15 ms before
/// the build starts. Elsewhere there is nothing to build ahead.
pub fn prepare() {
    #[cfg(target_os = "linux")]
    crate::platform::linux::prepare();
}

/// Starts the platform's sampler.
pub fn start(config: SamplerConfig) -> Result<Box<dyn Sampler>, StartError> {
    #[cfg(target_os = "linux")]
    {
        crate::platform::linux::start(config).map(|s| Box::new(s) as Box<dyn Sampler>)
    }
    #[cfg(target_os = "macos")]
    {
        crate::platform::macos::start(config).map(|s| Box::new(s) as Box<dyn Sampler>)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = config;
        Err(StartError::Unsupported("the native sampler runs on Linux and macOS"))
    }
}
