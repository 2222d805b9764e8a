//! The simulated shape of an agency, derived from its registry entry: the portal that
//! defacers attack, the office network whose workstations get phished and infected, the mail
//! domain.

use std::net::Ipv4Addr;

use canhgac_core::registry::{AgencyConfig, SystemConfig};
use ipnet::Ipv4Net;

use crate::SimError;

/// Number of workstations simulated per agency.
pub const WORKSTATIONS: usize = 40;

const GIVEN: [&str; 16] = [
    "an", "binh", "chi", "dung", "giang", "ha", "hung", "lan", "linh", "minh", "nam", "phuong",
    "quang", "thao", "trang", "tuan",
];
const FAMILY: [&str; 8] = ["nguyen", "tran", "le", "pham", "hoang", "vu", "dang", "bui"];

#[derive(Debug, Clone)]
pub struct Portal {
    pub system: String,
    pub domain: String,
    /// The web servers (at least one).
    pub hosts: Vec<String>,
    pub ip: Ipv4Addr,
}

#[derive(Debug, Clone)]
pub struct Workstation {
    pub name: String,
    pub ip: Ipv4Addr,
    pub user: String,
}

#[derive(Debug, Clone)]
pub struct Agency {
    pub id: String,
    /// The mail domain (`moh.gov.vn`).
    pub domain: String,
    pub portal: Option<Portal>,
    /// The system the workstations belong to, if the registry names one.
    pub office_system: Option<String>,
    pub workstations: Vec<Workstation>,
    pub dns_server: Ipv4Addr,
    pub dc_host: String,
    pub mail_host: String,
    /// Every genuine domain of the agency (for benign traffic).
    pub domains: Vec<String>,
}

fn net(s: &SystemConfig) -> Option<Ipv4Net> {
    s.cidrs.iter().find_map(|c| c.parse::<Ipv4Net>().ok())
}

fn offset(base: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(n))
}

impl Agency {
    pub fn from_config(a: &AgencyConfig) -> Result<Agency, SimError> {
        let portal_sys = a
            .systems
            .iter()
            .filter(|s| !s.domains.is_empty() && net(s).is_some())
            .max_by_key(|s| s.id.contains("cong-thong-tin"));
        let portal = portal_sys.map(|s| Portal {
            system: s.id.clone(),
            domain: s.domains[0].to_ascii_lowercase(),
            hosts: if s.hosts.is_empty() {
                vec![format!("{}-web01", a.id)]
            } else {
                s.hosts.clone()
            },
            ip: offset(net(s).expect("checked").network(), 5),
        });
        let private = |s: &&SystemConfig| net(s).is_some_and(|n| n.network().is_private());
        let office = a
            .systems
            .iter()
            .filter(private)
            .find(|s| s.id == "van-phong" || s.id == "so-nganh")
            .or_else(|| {
                a.systems
                    .iter()
                    .filter(private)
                    .find(|s| s.domains.is_empty())
            })
            .or_else(|| a.systems.iter().find(private));
        let (office_system, office_net) = match office {
            Some(s) => (Some(s.id.clone()), net(s).expect("checked")),
            None => (None, "10.250.0.0/16".parse().expect("valid")),
        };
        if office_net.hosts().count() < WORKSTATIONS + 64 {
            return Err(SimError::Config {
                what: "registry",
                message: format!(
                    "agency {}: office network {office_net} too small for {WORKSTATIONS} workstations",
                    a.id
                ),
            });
        }
        let base = office_net.network();
        let ws_base = if office_net.prefix_len() <= 22 {
            266
        } else {
            10
        };
        let prefix: String =
            a.id.split('-')
                .next_back()
                .unwrap_or(&a.id)
                .to_ascii_uppercase();
        let workstations = (0..WORKSTATIONS)
            .map(|i| Workstation {
                name: format!("{prefix}-PC{:03}", i + 1),
                ip: offset(base, ws_base + i as u32),
                user: format!(
                    "{}{}{}",
                    FAMILY[i % FAMILY.len()],
                    GIVEN[(i * 7 + 3) % GIVEN.len()],
                    if i >= FAMILY.len() * 2 {
                        format!("{}", i)
                    } else {
                        String::new()
                    }
                ),
            })
            .collect();
        let domains: Vec<String> = a
            .systems
            .iter()
            .flat_map(|s| s.domains.iter().map(|d| d.to_ascii_lowercase()))
            .collect();
        let domain = portal
            .as_ref()
            .map(|p| p.domain.clone())
            .or_else(|| domains.first().cloned())
            .unwrap_or_else(|| format!("{}.gov.vn", a.id));
        let host_of = |needle: &str, fallback: &str| {
            a.systems
                .iter()
                .flat_map(|s| &s.hosts)
                .find(|h| h.contains(needle))
                .cloned()
                .unwrap_or_else(|| format!("{prefix}-{fallback}").to_ascii_lowercase())
        };
        Ok(Agency {
            id: a.id.clone(),
            domain,
            portal,
            office_system,
            workstations,
            dns_server: offset(base, 53),
            dc_host: host_of("-dc", "dc01"),
            mail_host: host_of("mail", "mail01"),
            domains,
        })
    }
}
