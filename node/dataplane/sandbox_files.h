#pragma once
// The files a sandbox's processes see as /etc/hosts, /etc/resolv.conf and /etc/hostname,
// generated from the sandbox record and its joined endpoints (Docker's formats). Rendering
// is pure; write_in_place rewrites a file without replacing its inode, so bind mounts of it
// in running containers see the update.

#include <string>
#include <string_view>
#include <vector>

#include "store/event.h"

namespace trellis::node {

// Loopback and IPv6 boilerplate, extra hosts, then one line per own address:
// "<address>\t<hostname>.<domain> <hostname>" (the FQDN only when a domain is set).
std::string render_hosts(const store::SandboxCreated& sandbox,
                         const std::vector<std::string>& own_addresses);

// Nameservers: the sandbox's, else the host's without loopback servers (127.0.0.0/8, ::1:
// unreachable from the sandbox), else 8.8.8.8 and 8.8.4.4. Search domains and options: the
// sandbox's, else the host's.
std::string render_resolv_conf(const store::SandboxCreated& sandbox,
                               std::string_view host_resolv_conf);

std::string render_hostname(const store::SandboxCreated& sandbox);

// Truncates and rewrites `path` (creating it with mode 0644). InternalError.
void write_in_place(const std::string& path, std::string_view content);
// The content of `path`, or "" when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace trellis::node
