//! `perfprobe diff`: two `profile.pb.gz` files read back, folded the way `flamegraph.svg` folds a
//! session (same leading `[phase]`, `[plugin]`, `[role]` frames, same short names), drawn as
//! inferno's differential flame graph, and tallied by label and by leaf function for the CLI's
//! tables. Reading the pprof files rather than the summaries keeps every value, not a top 30.
//!
//! Nothing here trusts its input: a damaged or foreign file is an `Err` naming it, never a panic.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use prost::Message;
use serde::Serialize;

use super::{flamegraph, proto};
use crate::profile::PrimaryKind;
use crate::symbolize::display::short_name;
use crate::util::write_atomic;

/// Far above any real profile (a 999 Hz 10k-component build decodes to a few MB): a corrupt gzip
/// stream cannot make the CLI allocate without bound.
const MAX_DECODED_BYTES: u64 = 256 << 20;

/// Nanoseconds of one profile's sample type, in all, by label value and by leaf function.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tallies {
    /// `cpu`, or `wall` for a wall-only profile: what every figure here weighs.
    pub sample_type: &'static str,
    pub total_ns: u64,
    /// key (`phase`, `plugin`, `hook`, `loader`, `binding`, `thread_role`, ...) -> value -> ns.
    pub labels: BTreeMap<String, BTreeMap<String, u64>>,
    /// Leaf frame (short name, as the flame graphs show it) -> ns.
    pub functions_self: BTreeMap<String, u64>,
    /// Crate (or module) of the innermost frame -> CPU, as `summary.json` `crates` counts it.
    pub crates_self: BTreeMap<String, u64>,
}

/// A profile as folded lines (µs of its sample type) and tallies.
#[derive(Debug, Default)]
pub struct Folded {
    pub lines: Vec<String>,
    pub tallies: Tallies,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    pub base: Tallies,
    pub new: Tallies,
    /// Why the SVG could not be drawn or written: the tables stand without it.
    pub svg_error: Option<String>,
}

/// Reads both profiles, writes the differential flame graph to `out` and returns both tallies.
/// An unreadable profile is an error; an unwritable `out` is only `svg_error`.
pub fn diff_files(base: &Path, new: &Path, out: &Path, title: &str) -> Result<DiffReport, String> {
    let base = read_folded(base)?;
    let new = read_folded(new)?;
    if base.tallies.sample_type != new.tallies.sample_type {
        return Err(format!(
            "BASE weighs {} and NEW {}: compare profiles taken in the same mode (cpu or both, or wall with wall)",
            kind_of(base.tallies.sample_type).what(),
            kind_of(new.tallies.sample_type).what()
        ));
    }
    let svg_error = render(title, kind_of(new.tallies.sample_type), &base.lines, &new.lines)
        .and_then(|svg| write_atomic(out, &svg).map_err(|e| format!("{}: {e}", out.display())))
        .err();
    Ok(DiffReport { base: base.tallies, new: new.tallies, svg_error })
}

fn read_folded(path: &Path) -> Result<Folded, String> {
    read(path).and_then(|p| fold(&p)).map_err(|e| format!("{}: {e}", path.display()))
}

/// A pprof file, gzipped or not (pprof itself accepts both).
pub fn read(path: &Path) -> Result<proto::Profile, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    decode(&bytes)
}

pub fn decode(bytes: &[u8]) -> Result<proto::Profile, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return proto::Profile::decode(bytes).map_err(|e| format!("not a pprof profile ({e})"));
    }
    let mut body = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("damaged gzip data ({e})"))?;
    if body.len() as u64 > MAX_DECODED_BYTES {
        return Err(format!("decompresses to more than {} MB: not a profile this tool wrote", MAX_DECODED_BYTES >> 20));
    }
    proto::Profile::decode(&body[..]).map_err(|e| format!("not a pprof profile ({e})"))
}

fn kind_of(sample_type: &str) -> PrimaryKind {
    if sample_type == "wall" { PrimaryKind::Wall } else { PrimaryKind::Cpu }
}

/// Folds a pprof profile like [`flamegraph::folded`] folds a session, weighted by the profile's
/// default sample type when it is `wall/nanoseconds` (a wall-only session), else `cpu/nanoseconds`.
pub fn fold(profile: &proto::Profile) -> Result<Folded, String> {
    let string = |i: i64| -> Result<&str, String> {
        usize::try_from(i).ok().and_then(|i| profile.string_table.get(i)).map(String::as_str).ok_or_else(|| format!("string index {i} out of range"))
    };
    let position = |name: &str| profile.sample_type.iter().position(|t| string(t.r#type) == Ok(name) && string(t.unit) == Ok("nanoseconds"));
    let sample_type = if string(profile.default_sample_type) == Ok("wall") && position("wall").is_some() { "wall" } else { "cpu" };
    let cpu = position(sample_type).ok_or("no cpu/nanoseconds sample type: not a CPU or wall-time profile")?;
    let functions: HashMap<u64, &proto::Function> = profile.function.iter().map(|f| (f.id, f)).collect();
    // Each location's frames root first (an inlined callee after its caller), named once: samples
    // share locations by the thousand.
    let mut frames_of: HashMap<u64, Vec<String>> = HashMap::with_capacity(profile.location.len());
    let mut crate_of_location: HashMap<u64, String> = HashMap::with_capacity(profile.location.len());
    for loc in &profile.location {
        let mut names = Vec::with_capacity(loc.line.len().max(1));
        for line in loc.line.iter().rev() {
            let f = functions.get(&line.function_id).ok_or_else(|| format!("location {} names missing function {}", loc.id, line.function_id))?;
            names.push(frame_name(loc, line, string(f.name)?, string(f.filename)?));
        }
        if names.is_empty() {
            names.push(format!("0x{:x}", loc.address));
        }
        frames_of.insert(loc.id, names);
        let innermost = loc.line.first().and_then(|l| functions.get(&l.function_id)).map(|f| string(f.name)).transpose()?;
        crate_of_location.insert(loc.id, location_crate(profile, loc, innermost));
    }

    let mut weights: rustc_hash::FxHashMap<String, u64> = Default::default();
    let mut tallies = Tallies { sample_type, ..Default::default() };
    for sample in &profile.sample {
        let ns = sample.value.get(cpu).map_or(0, |&v| u64::try_from(v).unwrap_or(0));
        let mut labels: Vec<(&str, &str)> = Vec::with_capacity(sample.label.len());
        for l in sample.label.iter().filter(|l| l.str != 0) {
            labels.push((string(l.key)?, string(l.str)?));
        }
        let mut frames: Vec<&str> = Vec::new();
        for id in sample.location_id.iter().rev() {
            let names = frames_of.get(id).ok_or_else(|| format!("sample refers to missing location {id}"))?;
            frames.extend(names.iter().map(String::as_str));
        }
        tallies.total_ns += ns;
        // Thread names are one value per thread, not a unit of work worth a table.
        for &(k, v) in labels.iter().filter(|(k, _)| *k != "thread") {
            *tallies.labels.entry(k.to_string()).or_default().entry(v.to_string()).or_default() += ns;
        }
        if let Some(leaf) = frames.last() {
            *tallies.functions_self.entry(leaf.to_string()).or_default() += ns;
        }
        if let Some(group) = sample.location_id.first().and_then(|id| crate_of_location.get(id)) {
            *tallies.crates_self.entry(group.clone()).or_default() += ns;
        }
        let role = labels.iter().find(|(k, _)| *k == "thread_role").map_or("unknown", |(_, v)| v);
        *weights.entry(flamegraph::stack_line(&labels, role, frames.into_iter())).or_default() += ns;
    }
    Ok(Folded { lines: flamegraph::lines_us(weights), tallies })
}

/// The crate (or module, or `(JS)`) a location's innermost frame counts for, as
/// [`super::crates`] counts a session's.
fn location_crate(profile: &proto::Profile, loc: &proto::Location, innermost: Option<&str>) -> String {
    if loc.address == 0 && loc.mapping_id == 0 {
        return super::crates::JS.to_string();
    }
    if let Some(name) = innermost.and_then(super::crates::crate_of) {
        return name.to_string();
    }
    let file = profile.mapping.iter().find(|m| m.id == loc.mapping_id).and_then(|m| usize::try_from(m.filename).ok()).and_then(|i| profile.string_table.get(i));
    file.map_or("[unknown]", |f| f.rsplit('/').next().unwrap_or(f)).to_string()
}

/// The name `flamegraph.svg` shows for a frame. JS frames from V8 (no address, no mapping) read
/// `name file.js:line`, as `js::graft` names them; native frames lose their generic arguments.
fn frame_name(loc: &proto::Location, line: &proto::Line, function: &str, file: &str) -> String {
    if loc.address == 0 && loc.mapping_id == 0 && !file.is_empty() && line.line > 0 {
        return format!("{function} {}:{}", file.rsplit('/').next().unwrap_or(file), line.line);
    }
    short_name(function)
}

/// inferno's differential flame graph: NEW's stacks and widths, coloured by the change from BASE
/// (red grew, blue shrank, in absolute CPU or wall time: a build that got slower should look it).
/// Stacks only BASE has have no width in NEW; the CLI's tables list them.
pub fn render(title: &str, kind: PrimaryKind, base: &[String], new: &[String]) -> Result<Vec<u8>, String> {
    let mut options = flamegraph::options(title, kind);
    let what = kind.what();
    options.subtitle = Some(format!("widths: NEW's {what}; red: more {what} than BASE, blue: less"));
    let mut lines = Vec::new();
    if !new.is_empty() {
        let mut merged = Vec::new();
        inferno::differential::from_readers(Default::default(), base.join("\n").as_bytes(), new.join("\n").as_bytes(), &mut merged)
            .map_err(|e| e.to_string())?;
        lines = String::from_utf8_lossy(&merged).lines().map(str::to_string).collect();
        lines.sort();
    }
    flamegraph::render_in_memory(&mut options, &lines, "[no samples in NEW] 1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::pprof;
    use crate::labels;
    use crate::profile::{RawProfile, Sample, SampleKind, ThreadInfo, ThreadRole};
    use crate::resolve::resolve;

    fn thread(tid: i32, name: &str, role: ThreadRole) -> ThreadInfo {
        ThreadInfo { tid, name: name.into(), role, role_is_guess: false, cpu_ns: 0, first_seen_ns: 0, last_seen_ns: 0, exited: false, leaf_only_samples: 0 }
    }

    /// Two threads, labelled and unlabelled samples, addresses of this test binary's own code so
    /// they symbolize to real names.
    fn session(burn_ms: u64) -> RawProfile {
        let mut raw = RawProfile { frequency: 999, start_ns: 1_000, end_ns: 2_000_000_000, ..Default::default() };
        crate::unwind::refresh_modules();
        raw.modules = crate::unwind::known_modules();
        raw.threads = vec![thread(7, "node", ThreadRole::JsMain), thread(8, "tokio-0", ThreadRole::Tokio)];
        let here = session as *const () as u64;
        let other = fold as *const () as u64;
        let plain = raw.stacks.intern(&[here, other]);
        let burner = raw.stacks.intern(&[other + 1, here]);
        let phase = labels::intern(vec![("phase".into(), "make".into())]);
        let plugin = labels::intern(vec![("plugin".into(), "Burner".into()), ("hook".into(), "compilation.processAssets".into())]);
        let mut push = |thread, stack, thread_labels, ms: u64| {
            for _ in 0..ms {
                raw.samples.push(Sample { thread, time_ns: 0, weight_ns: 1_000_000, kind: Default::default(), thread_labels, process_labels: phase, stack, js_stack: crate::profile::NO_JS_STACK });
            }
        };
        push(0, plain, 0, 40);
        push(1, plain, 0, 60);
        push(0, burner, plugin, burn_ms);
        raw
    }

    fn pprof_bytes(raw: &RawProfile) -> Vec<u8> {
        let mut bytes = Vec::new();
        pprof::write(&pprof::build(&resolve(raw.clone(), Default::default())), &mut bytes).unwrap();
        bytes
    }

    fn folded_from_pprof(raw: &RawProfile) -> Folded {
        fold(&decode(&pprof_bytes(raw)).unwrap()).unwrap()
    }

    #[test]
    fn pprof_folds_like_the_sessions_own_flame_graph() {
        let raw = session(30);
        let from_session = flamegraph::folded(&resolve(raw.clone(), Default::default()), None);
        let folded = folded_from_pprof(&raw);
        assert_eq!(folded.lines, from_session);
        assert!(folded.lines.iter().any(|l| l.starts_with("[phase make];[plugin Burner];[js-main];")), "{:?}", folded.lines);
        assert_eq!(folded.tallies.total_ns, 130_000_000);
        assert_eq!(folded.tallies.labels["plugin"]["Burner"], 30_000_000);
        assert_eq!(folded.tallies.labels["phase"]["make"], 130_000_000);
        // This test binary's own functions, by crate.
        assert_eq!(folded.tallies.crates_self.get("perfprobe_core"), Some(&130_000_000), "{:?}", folded.tallies.crates_self);
        assert_eq!(folded.tallies.labels["thread_role"]["tokio"], 60_000_000);
        assert!(!folded.tallies.labels.contains_key("thread"));
        assert_eq!(folded.tallies.functions_self.values().sum::<u64>(), 130_000_000);
    }

    /// The session of [`session`] as a wall-only one: every sample a wall sample, half of them waiting.
    fn wall_session(burn_ms: u64) -> RawProfile {
        let mut raw = session(burn_ms);
        (raw.frequency, raw.wall_frequency) = (0, 99);
        for (i, s) in raw.samples.iter_mut().enumerate() {
            s.kind = if i % 2 == 0 { SampleKind::WallRunning } else { SampleKind::WallWaiting };
        }
        raw
    }

    #[test]
    fn wall_profiles_diff_by_wall_time_and_say_so_and_a_cpu_profile_does_not_compare_with_one() {
        let dir = std::env::temp_dir().join(format!("perfprobe-diff-wall-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (base, new, cpu, out) = (dir.join("base.pb.gz"), dir.join("new.pb.gz"), dir.join("cpu.pb.gz"), dir.join("diff.svg"));
        std::fs::write(&base, pprof_bytes(&wall_session(0))).unwrap();
        std::fs::write(&new, pprof_bytes(&wall_session(300))).unwrap();
        std::fs::write(&cpu, pprof_bytes(&session(300))).unwrap();
        let report = diff_files(&base, &new, &out, "base vs new").unwrap();
        assert_eq!((report.base.sample_type, report.new.sample_type), ("wall", "wall"));
        assert_eq!((report.base.total_ns, report.new.total_ns), (100_000_000, 400_000_000));
        assert_eq!(report.new.labels["plugin"]["Burner"], 300_000_000);
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.contains("µs wall") && svg.contains("widths: NEW&apos;s wall time") && !svg.contains("CPU"), "the picture calls wall time CPU");
        let mixed = diff_files(&cpu, &new, &out, "cpu vs wall").unwrap_err();
        assert!(mixed.contains("BASE weighs CPU and NEW wall time"), "{mixed}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn diff_draws_growth_and_tallies_both_sides() {
        let dir = std::env::temp_dir().join(format!("perfprobe-diff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (base, new, out) = (dir.join("base.pb.gz"), dir.join("new.pb.gz"), dir.join("diff.svg"));
        std::fs::write(&base, pprof_bytes(&session(0))).unwrap();
        std::fs::write(&new, pprof_bytes(&session(300))).unwrap();
        let report = diff_files(&base, &new, &out, "base vs new").unwrap();
        assert_eq!(report.svg_error, None);
        assert!(!report.base.labels.get("plugin").is_some_and(|p| p.contains_key("Burner")));
        assert_eq!(report.new.labels["plugin"]["Burner"], 300_000_000);
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("[plugin Burner]") && svg.contains("base vs new"));
        // A differential tooltip carries the change: `(..., 70.59%; +70.59%)`.
        assert!(svg.contains("[plugin Burner] (300,000 µs CPU"), "no Burner frame with NEW's width");
        assert!(svg.contains("; +"), "no frame shows growth");

        let unwritable = dir.join("missing-dir").join("diff.svg");
        let report = diff_files(&base, &new, &unwritable, "t").unwrap();
        assert!(report.svg_error.unwrap().contains("missing-dir"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_new_profile_still_draws() {
        let empty = Folded::default();
        let svg = String::from_utf8(render("t", PrimaryKind::Cpu, &["[js-main];a 5".to_string()], &empty.lines).unwrap()).unwrap();
        assert!(svg.contains("[no samples in NEW]"));
    }

    #[test]
    fn damaged_or_foreign_files_are_errors_not_panics() {
        let good = pprof_bytes(&session(5));
        assert!(decode(b"{\"schemaVersion\":1}").is_err());
        assert!(decode(&good[..good.len() / 2]).is_err(), "truncated gzip");
        let mut flipped = good.clone();
        flipped[20] ^= 0xff;
        assert!(decode(&flipped).is_err(), "corrupt gzip");
        assert!(read(Path::new("/nonexistent/profile.pb.gz")).is_err());

        let mut p = decode(&good).unwrap();
        p.sample_type.clear();
        assert!(fold(&p).unwrap_err().contains("cpu/nanoseconds"));
        let mut p = decode(&good).unwrap();
        p.sample[0].location_id.push(999_999);
        assert!(fold(&p).unwrap_err().contains("999999"));
        let mut p = decode(&good).unwrap();
        p.sample[0].label[0].key = -1;
        assert!(fold(&p).is_err());
        let mut p = decode(&good).unwrap();
        p.location[0].line[0].function_id = 424_242;
        assert!(fold(&p).is_err());
        // Negative or missing values count as nothing rather than wrapping.
        let mut p = decode(&good).unwrap();
        for s in &mut p.sample {
            s.value = vec![-5];
        }
        assert_eq!(fold(&p).unwrap().tallies.total_ns, 0);
    }
}
