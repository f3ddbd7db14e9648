//! The client's address (docs/AUTH.md, "Login limits"): the TCP peer, or, when the peer is a
//! trusted proxy, the right-most `X-Forwarded-For` address that is not one of them. Anything
//! left of that was written by the client and proves nothing.

use std::net::IpAddr;

use actix_web::dev::ServiceRequest;

pub fn client_ip(req: &ServiceRequest, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    from_parts(
        peer,
        req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()),
        trusted,
    )
}

fn from_parts<'a>(peer: IpAddr, forwarded: impl Iterator<Item = &'a str>, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            // An unreadable hop: nothing left of it can be trusted either.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = ip("10.0.0.2");
        let xff = ["203.0.113.9, 198.51.100.7, 10.0.0.3"];
        assert_eq!(from_parts(peer, xff.into_iter(), &trusted), Some(ip("198.51.100.7")));
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(
            from_parts(ip("192.0.2.1"), xff.into_iter(), &trusted),
            Some(ip("192.0.2.1"))
        );
        // Only proxies in the chain: the peer.
        assert_eq!(from_parts(peer, ["10.1.1.1"].into_iter(), &trusted), Some(peer));
        assert_eq!(from_parts(peer, ["garbage"].into_iter(), &trusted), Some(peer));
        assert_eq!(from_parts(peer, std::iter::empty(), &[]), Some(peer));
    }
}
