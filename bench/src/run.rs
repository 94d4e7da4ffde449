//! One bench run: prepare what is measured (release binary, peer), run the chosen sections, and
//! write bench/results/ and the README's figures.

use std::path::Path;

use serde_json::json;

use crate::build_info::{binary_info, ensure_release_binary, peer_info, workspace_root};
use crate::cli::Options;
use crate::launch::{Env, Kind, Launch};
use crate::report::Report;
use crate::report::files::{pretty, quote_in_readme, write_file};
use crate::report::render::render;
use crate::sections::{
    cold_start, cpu_share, memory, overhead, reduced_quota, size, throughput, time_to_kill, tls,
    variants,
};

pub(crate) async fn run(o: Options) -> Result<(), String> {
    let root = workspace_root();
    let mut report = Report::load(&root);
    if o.command == "report" {
        return rewrite_report(&root, &report);
    }
    report.start(&root, &o.command);
    let env = prepare(&root, &o, &mut report)?;
    if o.command == "variants" {
        return run_variants(&root, &o, &report).await;
    }
    measure(&env, &o, &mut report).await?;
    report.finish();
    let md = render(&report.doc());
    println!("\n{md}");
    if o.write {
        write_latest(&root, &report, &md)?;
        println!("wrote bench/results/latest.json and bench/results/latest.md");
        if quote_in_readme(&root.join("bench/README.md"), &md)? {
            println!("updated the figures in bench/README.md");
        }
    }
    Ok(())
}

/// `report`: latest.md and the README's figures again from latest.json.
fn rewrite_report(root: &Path, report: &Report) -> Result<(), String> {
    let md = render(&report.doc());
    println!("{md}");
    write_latest(root, report, &md)?;
    quote_in_readme(&root.join("bench/README.md"), &md)?;
    println!("rewrote bench/results/latest.md and the figures in bench/README.md");
    Ok(())
}

fn write_latest(root: &Path, report: &Report, md: &str) -> Result<(), String> {
    let dir = root.join("bench/results");
    write_file(&dir.join("latest.json"), &pretty(&report.doc()))?;
    write_file(&dir.join("latest.md"), md)
}

/// The functions to measure: the release binary (built first unless `--function` names one) and
/// the peer in bench/.venv, each recorded in the report's metadata when the command needs it.
fn prepare(root: &Path, o: &Options, report: &mut Report) -> Result<Env, String> {
    let kinds: Vec<Kind> = match o.only {
        Some(k) => vec![k],
        None => vec![Kind::Rust, Kind::Peer],
    };
    let needs_rust = o.command != "size" && kinds.contains(&Kind::Rust);
    let needs_peer =
        !["size", "variants"].contains(&o.command.as_str()) && kinds.contains(&Kind::Peer);
    let function = match &o.function {
        Some(f) => f.clone(),
        None => root.join("target/release/kms-material-guard"),
    };
    if needs_rust && o.command != "variants" {
        ensure_release_binary(root, &function, o.function.is_some())?;
        report.meta_insert("function_binary", binary_info(root, &function));
    }
    let python = root.join("bench/.venv/bin/python");
    if needs_peer && !python.exists() {
        return Err(format!(
            "{} is missing: run bench/setup.sh first (creates bench/.venv from bench/requirements.txt)",
            python.display()
        ));
    }
    if needs_peer {
        report.meta_insert("peer", peer_info(&python));
    }
    Ok(Env {
        rust: Launch::Rust(function),
        peer: Launch::Peer {
            python,
            dir: root.join("bench/peer"),
        },
        root: root.to_path_buf(),
        kinds,
    })
}

/// The sections `o.command` names (`all`: every one), each recorded in the report.
async fn measure(env: &Env, o: &Options, report: &mut Report) -> Result<(), String> {
    let all = o.command == "all";
    let wants = |name: &str| all || o.command == name;
    if wants("cold-start") {
        report.section("cold_start", cold_start::cold_start(env, o).await?);
    }
    if wants("memory") {
        report.section("memory", memory::memory(env, o).await?);
    }
    if wants("overhead") {
        report.section("overhead", overhead::overhead(env, o).await?);
    }
    if wants("throughput") {
        report.section("throughput", throughput::throughput(env, o).await?);
    }
    if wants("reduced-quota") {
        report.section("reduced_quota", reduced_quota::reduced_quota(env, o).await?);
    }
    if wants("time-to-kill") {
        report.section("time_to_kill", time_to_kill::time_to_kill(env, o).await?);
    }
    if wants("cpu-share") {
        report.section("cpu_share", cpu_share::cpu_share(env, o).await?);
    }
    if wants("tls") {
        report.section("tls", tls::tls(env, o).await?);
    }
    if wants("size") {
        report.section("size", size::size(env, o)?);
    }
    Ok(())
}

/// `variants`: measured apart, written to bench/results/profiles.{json,md}.
async fn run_variants(root: &Path, o: &Options, report: &Report) -> Result<(), String> {
    let v = variants::variants(o).await?;
    let md = variants::render_variants(&v, &report.meta);
    println!("\n{md}");
    if o.write {
        let dir = root.join("bench/results");
        write_file(
            &dir.join("profiles.json"),
            &pretty(&json!({"meta": report.meta, "variants": v})),
        )?;
        write_file(&dir.join("profiles.md"), &md)?;
        println!("wrote bench/results/profiles.json and bench/results/profiles.md");
    }
    Ok(())
}
