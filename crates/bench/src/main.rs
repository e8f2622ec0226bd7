//! `shipyard-bench`: runs the performance scenarios of the quality bars against the real server
//! and the simulated GitHub, and prints one table.
//!
//! Every scenario measures Shipyard and a baseline in the same run, because the machines are
//! shared and noisy; the table shows both, their ratio, the bar and whether it is met.
//!
//! Layout:
//! - [`table`]: the rows and how they are printed.
//! - [`harness`]: the simulated GitHub and the real server on a throw-away SQLite database.
//! - [`serve`]: `shipyard serve` as a separate process, and what `/proc` says about it.
//! - [`browser`]: headless Chromium through ChromeDriver, shared with the end-to-end tests.
//! - one module per scenario ([`p1`], [`p2`], [`p3`], …), each exposing a `SCENARIO`.

#[path = "../../shipyard/tests/common/browser.rs"]
mod browser;
mod harness;
mod p1;
mod p2;
mod p3;
mod p4;
mod p6;
mod p7;
mod p8;
mod serve;
mod table;

use clap::Parser;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Instant;
use table::Row;

/// Runs Shipyard's benchmark scenarios and prints the quality table.
#[derive(Parser, Debug)]
#[command(name = "shipyard-bench", about)]
struct Args {
    /// Small sizes and short latencies so CI finishes fast; a missed bar does not fail the run.
    #[arg(long)]
    smoke: bool,
    /// Run only these scenarios (e.g. `p1`); repeat the flag or separate ids with commas.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The sizes the quality bars are stated for.
    Full,
    /// A small run that only keeps the benchmarks working.
    Smoke,
}

impl Size {
    fn label(self) -> &'static str {
        match self {
            Size::Full => "full size",
            Size::Smoke => "smoke size",
        }
    }
}

/// What a scenario's run returns: its rows of the table.
pub type ScenarioFuture = Pin<Box<dyn Future<Output = anyhow::Result<Vec<Row>>> + Send>>;

/// One scenario of the quality bars.
pub struct Scenario {
    /// Its id in the quality bars, e.g. `P1`.
    pub id: &'static str,
    /// Runs it at the given size.
    pub run: fn(Size) -> ScenarioFuture,
}

/// Ids measured by another scenario's run: P5 (memory under P2's load) is part of P2.
const PART_OF: &[(&str, &str)] = &[("P5", "P2")];

/// Every scenario, in table order.
const SCENARIOS: &[&Scenario] = &[
    &p1::SCENARIO,
    &p2::SCENARIO,
    &p3::SCENARIO,
    &p4::SCENARIO,
    &p6::SCENARIO,
    &p7::SCENARIO,
    &p8::SCENARIO,
];

fn selected(only: &[String]) -> anyhow::Result<Vec<&'static Scenario>> {
    if only.is_empty() {
        return Ok(SCENARIOS.to_vec());
    }
    let mut picked = Vec::new();
    for want in only {
        let want = want.trim();
        let want = PART_OF
            .iter()
            .find(|(part, _)| part.eq_ignore_ascii_case(want))
            .map_or(want, |(_, whole)| whole);
        let Some(s) = SCENARIOS.iter().find(|s| s.id.eq_ignore_ascii_case(want)) else {
            let mut known: Vec<&str> = SCENARIOS.iter().map(|s| s.id).collect();
            known.extend(PART_OF.iter().map(|(part, _)| *part));
            anyhow::bail!("unknown scenario `{want}`; known: {}", known.join(", "));
        };
        if !picked.iter().any(|p: &&Scenario| p.id == s.id) {
            picked.push(*s);
        }
    }
    Ok(picked)
}

/// Runs the scenarios; returns the rows and the errors of scenarios that could not finish.
async fn run_all(scenarios: &[&Scenario], size: Size) -> (Vec<Row>, Vec<String>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for s in scenarios {
        eprintln!("{}: running ({})…", s.id, size.label());
        let started = Instant::now();
        match (s.run)(size).await {
            Ok(r) => {
                eprintln!("{}: done in {:.1} s", s.id, started.elapsed().as_secs_f64());
                rows.extend(r);
            }
            Err(e) => {
                eprintln!("{}: failed: {e:#}", s.id);
                errors.push(format!("{}: {e:#}", s.id));
            }
        }
    }
    (rows, errors)
}

fn main() -> ExitCode {
    let args = Args::parse();
    shipyard::install_crypto_provider();
    let size = if args.smoke { Size::Smoke } else { Size::Full };
    let scenarios = match selected(&args.only) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let (rows, errors) = runtime.block_on(run_all(&scenarios, size));

    println!();
    println!("Shipyard benchmarks ({})", size.label());
    println!();
    print!("{}", table::render(&rows));
    if !errors.is_empty() {
        println!();
        for e in &errors {
            println!("error: {e}");
        }
        return ExitCode::from(2);
    }
    let missed = rows.iter().filter(|r| !r.verdict.is_met()).count();
    if missed > 0 && size == Size::Full {
        eprintln!("{missed} bar(s) missed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn p5_runs_as_part_of_p2() {
        let ids = |only: &[&str]| -> Vec<&str> {
            let only: Vec<String> = only.iter().map(|s| (*s).to_owned()).collect();
            selected(&only).unwrap().iter().map(|s| s.id).collect()
        };
        assert_eq!(ids(&["p5"]), ["P2"]);
        assert_eq!(ids(&["p2", "P5"]), ["P2"]);
        assert_eq!(ids(&["p1", "p5"]), ["P1", "P2"]);
        let unknown = selected(&["p9".to_owned()]).err().unwrap().to_string();
        assert!(unknown.contains("P5"), "{unknown}");
    }
}
