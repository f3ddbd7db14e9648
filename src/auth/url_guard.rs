//! The SSRF guard for connector URLs (docs/AUTH.md "Connector URLs"): what a registration or
//! scan request may name as a connector, and which addresses the core may connect to.
//!
//! A connector URL is where the core sends `read_file`, `item_action` and its credentials, so a
//! peer must not be able to aim it at the cloud metadata service, a link-local address or a host
//! outside the operator's allow-list. Checked twice: on the text at acceptance (422), and on
//! every resolved address at connect time (a name can resolve anywhere).

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// The setting that allow-lists connector hosts.
pub const ALLOW_LIST_VAR: &str = "DSXCONNECT_CONNECTORS__ALLOWED_URLS";
/// Longest connector URL accepted.
const MAX_URL: usize = 2048;

/// Why a URL was refused: the `<reason>` of `url not allowed: <reason>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooLong,
    Characters,
    Scheme,
    Userinfo,
    Query,
    Fragment,
    Host,
    Port,
    BlockedAddress,
    NotInAllowList,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::TooLong => "too_long",
            Refusal::Characters => "characters",
            Refusal::Scheme => "scheme",
            Refusal::Userinfo => "userinfo",
            Refusal::Query => "query",
            Refusal::Fragment => "fragment",
            Refusal::Host => "host",
            Refusal::Port => "port",
            Refusal::BlockedAddress => "blocked_address",
            Refusal::NotInAllowList => "not_in_allow_list",
        }
    }

    /// The validation message of a 422.
    pub fn message(self) -> String {
        format!("url not allowed: {}", self.as_str())
    }
}

/// Address ranges never connected to unless an allow-list entry inside them says otherwise:
/// link-local (cloud metadata), "this network", unspecified, multicast, broadcast and the EC2
/// IPv6 metadata address.
const BLOCKED: [&str; 8] = [
    "169.254.0.0/16",
    "fe80::/10",
    "0.0.0.0/8",
    "::/128",
    "224.0.0.0/4",
    "ff00::/8",
    "255.255.255.255/32",
    "fd00:ec2::254/128",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// `host` or `*.domain`, optionally with a port.
    Name {
        pattern: String,
        port: Option<u16>,
    },
    Net {
        net: IpNet,
        port: Option<u16>,
    },
}

/// `DSXCONNECT_CONNECTORS__ALLOWED_URLS`: host names, `*.domain` wildcards, IPs and CIDRs,
/// each optionally with a port. Empty = every address outside the blocked ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
}

/// An allow-list entry that is neither a host name pattern nor a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid allow-list entry {0:?}")]
pub struct InvalidEntry(pub String);

impl AllowList {
    /// Parses the comma list; the error names the entry.
    pub fn parse(list: &str) -> Result<Self, InvalidEntry> {
        let mut entries = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            entries.push(parse_entry(raw).ok_or_else(|| InvalidEntry(raw.to_string()))?);
        }
        Ok(Self { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn names_match(&self, host: &str, port: u16) -> bool {
        self.entries.iter().any(|e| match e {
            Entry::Name { pattern, port: p } => {
                p.is_none_or(|p| p == port)
                    && match pattern.strip_prefix("*.") {
                        Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
                        None => host == pattern,
                    }
            }
            Entry::Net { .. } => false,
        })
    }

    fn has_nets(&self) -> bool {
        self.entries.iter().any(|e| matches!(e, Entry::Net { .. }))
    }

    fn net_allows(&self, ip: IpAddr, port: Option<u16>) -> bool {
        self.entries.iter().any(|e| match e {
            Entry::Net { net, port: p } => net.contains(&ip) && (p.is_none() || port.is_none() || *p == port),
            Entry::Name { .. } => false,
        })
    }

    /// Whether a blocked address is explicitly allowed: an allow-list network inside the
    /// blocked range contains it.
    fn unblocks(&self, ip: IpAddr, blocked: &IpNet) -> bool {
        self.entries.iter().any(|e| match e {
            Entry::Net { net, .. } => net.contains(&ip) && blocked.contains(net),
            Entry::Name { .. } => false,
        })
    }

    /// Whether the core may connect to `ip` for `host` (connect-time check of every resolved
    /// address; `host` is the name the URL gave).
    pub fn address_allowed(&self, host: &str, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if let Some(b) = blocked_range(ip)
            && !self.unblocks(ip, &b)
        {
            return false;
        }
        if self.is_empty() || self.name_matches_any_port(host) {
            return true;
        }
        self.net_allows(ip, None)
    }

    fn name_matches_any_port(&self, host: &str) -> bool {
        self.entries.iter().any(|e| match e {
            Entry::Name { pattern, .. } => match pattern.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == pattern,
            },
            Entry::Net { .. } => false,
        })
    }
}

impl std::fmt::Display for AllowList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match e {
                Entry::Name { pattern, port: None } => write!(f, "{pattern}")?,
                Entry::Name { pattern, port: Some(p) } => write!(f, "{pattern}:{p}")?,
                Entry::Net { net, port: None } => write!(f, "{net}")?,
                Entry::Net { net, port: Some(p) } => match net.addr() {
                    IpAddr::V6(a) => write!(f, "[{a}]:{p}")?,
                    IpAddr::V4(a) => write!(f, "{a}:{p}")?,
                },
            }
        }
        Ok(())
    }
}

fn parse_entry(raw: &str) -> Option<Entry> {
    if let Ok(net) = raw.parse::<IpNet>() {
        return Some(Entry::Net { net, port: None });
    }
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(Entry::Net {
            net: IpNet::from(ip),
            port: None,
        });
    }
    if let Ok(sa) = raw.parse::<std::net::SocketAddr>() {
        return Some(Entry::Net {
            net: IpNet::from(sa.ip()),
            port: Some(sa.port()).filter(|p| *p != 0),
        });
    }
    let (host, port) = match raw.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().ok().filter(|p| *p != 0)?)),
        None => (raw, None),
    };
    let bare = host.strip_prefix("*.").unwrap_or(host);
    let ok = !bare.is_empty()
        && bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    ok.then(|| Entry::Name {
        pattern: host.to_ascii_lowercase(),
        port,
    })
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn blocked_range(ip: IpAddr) -> Option<IpNet> {
    BLOCKED
        .iter()
        .filter_map(|b| b.parse::<IpNet>().ok())
        .find(|n| n.contains(&ip))
}

/// Checks a connector URL's text (registration `url`, scan request `connector_url`) and returns
/// its stored form: the parser's serialisation without a trailing `/`.
pub fn check(raw: &str, allow: &AllowList) -> Result<String, Refusal> {
    if raw.len() > MAX_URL {
        return Err(Refusal::TooLong);
    }
    if raw.contains('#') {
        return Err(Refusal::Fragment);
    }
    if raw.chars().any(|c| c.is_ascii_control() || c == ' ' || c == '\\') {
        return Err(Refusal::Characters);
    }
    let lower = raw.to_ascii_lowercase();
    let Some(after) = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://")) else {
        return Err(Refusal::Scheme);
    };
    let authority = after.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(Refusal::Userinfo);
    }
    if raw.contains('?') {
        return Err(Refusal::Query);
    }
    let url = url::Url::parse(raw).map_err(|e| match e {
        url::ParseError::InvalidPort => Refusal::Port,
        _ => Refusal::Host,
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Userinfo);
    }
    let port = url.port_or_known_default().ok_or(Refusal::Port)?;
    if port == 0 {
        return Err(Refusal::Port);
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => HostKind::Name(d.to_ascii_lowercase()),
        Some(url::Host::Ipv4(v4)) => HostKind::Ip(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => HostKind::Ip(IpAddr::V6(v6)),
        _ => return Err(Refusal::Host),
    };
    match host {
        HostKind::Ip(ip) => {
            let ip = canonical(ip);
            if let Some(b) = blocked_range(ip)
                && !allow.unblocks(ip, &b)
            {
                return Err(Refusal::BlockedAddress);
            }
            if !allow.is_empty() && !allow.net_allows(ip, Some(port)) {
                return Err(Refusal::NotInAllowList);
            }
        }
        HostKind::Name(name) => {
            // A name outside the name entries may still resolve into an allowed network: that
            // is decided at connect time, on the addresses actually connected to.
            if !allow.is_empty() && !allow.names_match(&name, port) && !allow.has_nets() {
                return Err(Refusal::NotInAllowList);
            }
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

enum HostKind {
    Name(String),
    Ip(IpAddr),
}

/// The error a refused address produces at connect time.
#[derive(Debug, thiserror::Error)]
#[error("blocked by {ALLOW_LIST_VAR}")]
pub struct Blocked;

/// A DNS resolver for the core's connector clients that drops every address the guard refuses,
/// so the address connected to is the address checked.
pub struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl GuardedResolver {
    pub fn new(allow: Arc<AllowList>) -> Self {
        Self { allow }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_ascii_lowercase();
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let ok: Vec<std::net::SocketAddr> = found.filter(|a| allow.address_allowed(&host, a.ip())).collect();
            if ok.is_empty() {
                return Err(Box::new(Blocked) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The connect-time check of a URL whose host is an IP literal (the resolver never sees
/// those): `Err(Blocked)` when the guard refuses the address.
pub fn check_literal(url: &str, allow: &AllowList) -> Result<(), Blocked> {
    let Ok(u) = url::Url::parse(url) else {
        return Ok(());
    };
    let ip = match u.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if allow.address_allowed("", ip) {
        Ok(())
    } else {
        Err(Blocked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> AllowList {
        AllowList::default()
    }

    #[test]
    fn one_case_per_reason() {
        let long = format!("http://h/{}", "a".repeat(2100));
        let cases: [(&str, Refusal); 14] = [
            (&long, Refusal::TooLong),
            ("http://h/x#", Refusal::Fragment),
            ("http://h/x#frag", Refusal::Fragment),
            ("http://h/a b", Refusal::Characters),
            ("http://h/a\tb", Refusal::Characters),
            ("http://h\\x", Refusal::Characters),
            ("ftp://h/x", Refusal::Scheme),
            ("/relative", Refusal::Scheme),
            ("http://user:pw@h/x", Refusal::Userinfo),
            ("http://@h/x", Refusal::Userinfo),
            ("http://h/x?a=b", Refusal::Query),
            ("http://h:0/x", Refusal::Port),
            ("http://h:70000/x", Refusal::Port),
            ("http://169.254.169.254/latest", Refusal::BlockedAddress),
        ];
        for (u, want) in cases {
            assert_eq!(check(u, &none()), Err(want), "{u}");
        }
        assert_eq!(check("http://:8080/x", &none()), Err(Refusal::Host));
    }

    #[test]
    fn blocked_ranges_include_mapped_and_v6_forms() {
        for u in [
            "http://[::ffff:169.254.169.254]/",
            "http://[fe80::1]:8080/",
            "http://0.0.0.0:8590/",
            "http://[::]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[fd00:ec2::254]/",
            "http://[ff02::1]/",
        ] {
            assert_eq!(check(u, &none()), Err(Refusal::BlockedAddress), "{u}");
        }
        let unblock = AllowList::parse("169.254.169.254/32").unwrap();
        assert!(check("http://169.254.169.254/x", &unblock).is_ok());
        // A wider entry does not unblock a narrower blocked range.
        let wide = AllowList::parse("0.0.0.0/0").unwrap();
        assert_eq!(check("http://169.254.169.254/x", &wide), Err(Refusal::BlockedAddress));
    }

    #[test]
    fn stored_form_is_the_parsers_without_trailing_slash() {
        assert_eq!(
            check("HTTP://Conn.Example:8590/fs/", &none()).unwrap(),
            "http://conn.example:8590/fs"
        );
        assert_eq!(check("http://127.0.0.1:80/", &none()).unwrap(), "http://127.0.0.1");
        assert_eq!(
            check("https://bücher.example/x", &none()).unwrap(),
            "https://xn--bcher-kva.example/x"
        );
    }

    #[test]
    fn allow_list_names_wildcards_and_networks() {
        let a = AllowList::parse("conn.internal, *.svc.cluster.local, 10.1.0.0/16, 192.0.2.7:8590").unwrap();
        assert!(check("http://conn.internal:8590/x", &a).is_ok());
        assert!(check("http://fs.ns.svc.cluster.local/x", &a).is_ok());
        assert!(check("http://10.1.2.3/x", &a).is_ok());
        assert!(check("http://192.0.2.7:8590/x", &a).is_ok());
        assert_eq!(check("http://192.0.2.7:8591/x", &a), Err(Refusal::NotInAllowList));
        assert_eq!(check("http://10.2.0.5/x", &a), Err(Refusal::NotInAllowList));
        // A name outside the name entries is decided on its addresses at connect time.
        assert!(check("http://other.example/x", &a).is_ok());
        assert!(!a.address_allowed("other.example", "10.2.0.5".parse().unwrap()));
        assert!(a.address_allowed("other.example", "10.1.9.9".parse().unwrap()));
        assert!(a.address_allowed("conn.internal", "10.2.0.5".parse().unwrap()));
        let names_only = AllowList::parse("conn.internal").unwrap();
        assert_eq!(
            check("http://other.example/x", &names_only),
            Err(Refusal::NotInAllowList)
        );
        assert!(AllowList::parse("bad entry!").is_err());
    }

    #[test]
    fn connect_time_checks_resolved_and_literal_addresses() {
        let open = none();
        assert!(!open.address_allowed("meta.example", "169.254.169.254".parse().unwrap()));
        assert!(open.address_allowed("conn.example", "127.0.0.1".parse().unwrap()));
        assert!(check_literal("http://[::ffff:169.254.169.254]/", &open).is_err());
        assert!(check_literal("http://127.0.0.1:9/", &open).is_ok());
        assert!(check_literal("http://localhost:9/", &open).is_ok());
    }
}
