// A workaround for CAF 0.17's openssl layer, linked into g-actor only.
//
// CAF 0.17.6 never drains OpenSSL's per-thread error queue after a failed handshake (its
// session::handle_ssl_result returns without reading the errors). The queue belongs to the multiplexer thread that
// serves every cluster link, so the next SSL_get_error on that thread reports SSL_ERROR_SSL for a healthy link and
// CAF closes it: one peer with a foreign certificate dropped all of a node's links. OpenSSL asks callers to clear
// the queue before each TLS I/O call; these definitions interpose on libssl's (the executable's symbols come first)
// and do exactly that before calling the real function.
#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto f = real<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto f = real<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto f = real<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return f(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto f = real<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return f(ssl);
}

}  // extern "C"
