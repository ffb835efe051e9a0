#pragma once
// Whether an HTTP client is still connected, for cpp-httplib 0.11 handlers: the library does not
// give a handler its socket (later versions add Request::is_connection_closed), so keel finds it
// among the process's sockets by the peer's address and port. Linux only (/proc/self/fd).

#include <string>

namespace keel::cli {

// The socket connected to `peer_addr`:`peer_port` whose local port is `local_port`; -1 if none.
int find_peer_socket(const std::string& peer_addr, int peer_port, int local_port);
// True when the peer has closed or reset the connection (a non-blocking peek reads EOF or an
// error); false while it is open, even with unread data.
bool peer_closed(int fd);

}  // namespace keel::cli
