//! A profiling session: sampler plus the moment it started, stopped into a [`RawProfile`].

use crate::profile::{CodeEvent, RawProfile};
use crate::sampler::{self, Sampler, SamplerConfig, StartError};

pub type SessionOptions = SamplerConfig;

pub struct Session {
    sampler: Box<dyn Sampler>,
}

impl Session {
    /// Starts sampling once earlier exports' memory is freed ([`crate::export::wait_for_released`]),
    /// and, in the background for the export, reads the symbol tables of the modules loaded now
    /// ([`crate::symbolize::prepared`]) and names the addresses sampled ([`crate::symbolize::ahead`]).
    pub fn start(options: SessionOptions) -> Result<Session, StartError> {
        crate::export::wait_for_released();
        let sampler = sampler::start(options)?;
        // The sampler thread's offers wait until the namer runs (see `Feed::offer_new`).
        crate::symbolize::ahead::start();
        crate::symbolize::prepared::read_ahead(crate::unwind::known_modules());
        Ok(Session { sampler })
    }

    /// Whether the session ended by itself (a bound was reached).
    pub fn finished(&self) -> bool {
        self.sampler.finished()
    }

    /// Why option `timer` could not be honoured: the kernel's refusal, in words to act on.
    pub fn timer_fallback(&self) -> Option<&str> {
        self.sampler.timer_fallback()
    }

    pub fn stop(self) -> RawProfile {
        self.sampler.stop()
    }

    /// The same, with the code events V8 reported while the main thread's JS frames were sampled
    /// ([`crate::js::jit::stop`], called on the main thread before).
    pub fn stop_with_code_events(self, code_events: Option<Vec<CodeEvent>>) -> RawProfile {
        RawProfile { code_events, ..self.sampler.stop() }
    }
}
