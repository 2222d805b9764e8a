//! The simulated records carry what ties an attack's detections together, as real sensors log
//! it: the portal's access log names its virtual host (Apache `vhost_combined`), so web
//! detections are attributed to the portal; the workstations' Sysmon events come through
//! Winlogbeat with the agent's address, the address their C2 traffic is seen from.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use canhgac_core::registry::{AttributionKeys, Registry};
use canhgac_ingest::{decoder, Decoded, DecoderOptions};
use canhgac_sim::{Category, SimConfig, Simulator, Stream};
use canhgac_testsupport::repo;

fn decode(stream: Stream, bytes: &[u8]) -> Decoded {
    let mut d = decoder(stream.format(), &DecoderOptions::default()).unwrap();
    d.decode(bytes).unwrap().expect("a record")
}

#[test]
fn records_name_the_portal_and_the_workstation_address() {
    let registry = Registry::load(&repo("rules/agencies.example.toml")).unwrap();
    let month = "2026-10".parse().unwrap();
    let mut cfg = SimConfig::new(
        Registry::load(&repo("rules/agencies.example.toml")).unwrap(),
        month,
        month,
    );
    cfg.seed = 1;
    cfg.events_per_day = 40;
    let sim = Simulator::new(cfg).unwrap();
    let truth = sim.truth();
    let category: BTreeMap<&str, Category> = truth
        .iter()
        .map(|t| (t.truth_id.as_str(), t.category))
        .collect();
    let system = |agency: &str, hosts: &[&str], ips: &[IpAddr], domains: &[&str]| {
        let keys = AttributionKeys {
            hosts,
            ips,
            domains,
        };
        registry
            .attribute(agency, keys)
            .map(|a| a.system.id.clone())
    };
    let (mut web, mut winlogbeat) = (0, 0);
    // Per malware attack: the addresses its Sysmon events name, and its traffic's sources.
    let mut agent_ips: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    let mut traffic: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    for r in sim.records() {
        let attack = r.truth_id.clone();
        let malware = attack
            .as_deref()
            .is_some_and(|t| category[t] == Category::Malware);
        match r.stream {
            Stream::Web => {
                let d = decode(r.stream, &r.bytes);
                let domain = d.ecs.url_domain.as_deref().expect("url.domain");
                assert_eq!(d.ecs.destination_port, Some(443));
                let sys = system(&r.agency, &[], &[], &[domain]);
                assert!(sys.is_some(), "{domain} is no system of {}", r.agency);
                web += 1;
            }
            Stream::Windows => {
                let d = decode(r.stream, &r.bytes);
                if d.original.get("winlog").is_none() {
                    assert!(d.original["Event"].is_object());
                    continue;
                }
                winlogbeat += 1;
                let ip = d.ecs.host_ip.expect("Winlogbeat's host.ip");
                let name = d.ecs.host_name.as_deref().expect("host.name");
                assert!(system(&r.agency, &[name], &[ip], &[]).is_some(), "{ip}");
                if malware {
                    agent_ips.entry(attack.unwrap()).or_default().insert(ip);
                }
            }
            Stream::ZeekDns | Stream::Suricata if malware => {
                let d = decode(r.stream, &r.bytes);
                let src = d.ecs.source_ip.expect("source.ip");
                traffic.entry(attack.unwrap()).or_default().insert(src);
            }
            _ => {}
        }
    }
    assert!(
        web > 100 && winlogbeat > 100,
        "{web} web, {winlogbeat} winlogbeat"
    );
    let attacks = truth
        .iter()
        .filter(|t| t.category == Category::Malware)
        .count();
    assert!(attacks > 0);
    assert_eq!(
        agent_ips.len(),
        attacks,
        "every infection is seen by Sysmon"
    );
    for (attack, ips) in &agent_ips {
        // Each infected workstation's beacons come from the address its agent reports.
        assert_eq!(Some(ips), traffic.get(attack), "{attack}");
    }
}
