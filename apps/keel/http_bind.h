#pragma once
// Binding a cpp-httplib server the way keel's servers do (nmt serve, power watch --port).

#include <fmt/format.h>
#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "keel/core/error.h"

namespace keel::cli {

// SO_REUSEADDR only: the library's default SO_REUSEPORT would let a second server share a port
// already in use (the kernel then splits connections between them) instead of failing. Stores
// the listening socket in `*listen_socket` when given. Call before bind_exclusive.
inline void exclusive_port(httplib::Server& svr, int* listen_socket = nullptr) {
  svr.set_socket_options([listen_socket](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (listen_socket) *listen_socket = sock;
  });
}

// Binds to host:port (0: any free port); returns the bound port or throws InputError naming the
// address and the flag to change.
inline int bind_exclusive(httplib::Server& svr, const std::string& host, int port) {
  // The library says only "failed": resolve first, so an unknown host is named as such.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0)
    throw core::InputError(fmt::format("cannot listen on {}: {}", host, ::gai_strerror(rc)), {},
                           "pass an address of this machine to --host, e.g. 127.0.0.1 or 0.0.0.0");
  ::freeaddrinfo(found);
  errno = 0;
  const int bound = port == 0 ? svr.bind_to_any_port(host) : svr.bind_to_port(host, port) ? port : -1;
  if (bound <= 0)
    throw core::InputError(fmt::format("cannot listen on {}:{}{}", host, port,
                                       errno ? std::string(": ") + std::strerror(errno) : ""),
                           {}, "choose another --port (0 picks a free one) or --host");
  return bound;
}

}  // namespace keel::cli
