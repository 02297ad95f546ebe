#include "net/redis/redis_connection.hpp"

#include "net/hex.hpp"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>


namespace g::net {

namespace {

redis_reply convert(const redisReply* r) {
  redis_reply out;
  if (!r) return out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER: out.type = redis_reply::integer; out.number = r->integer; break;
    case REDIS_REPLY_STRING: out.type = redis_reply::string; out.text.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: out.type = redis_reply::status; out.text.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.type = redis_reply::error; out.text.assign(r->str, r->len); break;
    case REDIS_REPLY_ARRAY:
      out.type = redis_reply::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default: out.type = redis_reply::nil;
  }
  return out;
}

redis_reply failure(const std::string& why) {
  redis_reply r;
  r.type = redis_reply::error;
  r.text = "connection: " + why;
  return r;
}

timeval to_timeval(std::int64_t ms) { return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)}; }

}  // namespace

redis_connection::redis_connection(redis_endpoint endpoint) : ep_(std::move(endpoint)) {}

redis_connection::~redis_connection() {
  if (ctx_) redisFree(ctx_);
}

void redis_connection::drop(const std::string& why) {
  error_ = why;
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

bool redis_connection::ensure_connected() {
  if (ctx_) return true;
  redisContext* c = redisConnectWithTimeout(ep_.host.c_str(), ep_.port, to_timeval(ep_.timeout_ms));
  if (!c || c->err) {
    error_ = "cannot connect to Redis at " + ep_.host + ":" + std::to_string(ep_.port) + ": " + (c ? c->errstr : "out of memory");
    if (c) redisFree(c);
    return false;
  }
  redisSetTimeout(c, to_timeval(ep_.timeout_ms));
  ctx_ = c;
  if (!ep_.password.empty()) {
    auto r = command({"AUTH", ep_.password});
    if (r.is_error()) {
      drop("Redis refused AUTH: " + r.text);
      return false;
    }
  }
  if (ep_.db != 0) {
    auto db = std::to_string(ep_.db);
    auto r = command({"SELECT", db});
    if (r.is_error()) {
      drop("Redis refused SELECT " + db + ": " + r.text);
      return false;
    }
  }
  return true;
}

redis_reply redis_connection::command(const std::vector<std::string_view>& argv) {
  auto replies = pipeline({argv});
  return replies.front();
}

std::vector<redis_reply> redis_connection::pipeline(const std::vector<std::vector<std::string_view>>& commands) {
  std::vector<redis_reply> out;
  if (!ensure_connected()) {
    out.assign(commands.size(), failure(error_));
    return out;
  }
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto& cmd : commands) {
    args.clear();
    lens.clear();
    for (auto a : cmd) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()) != REDIS_OK) {
      std::string why = ctx_->errstr;
      drop(why);
      out.assign(commands.size(), failure(why));
      return out;
    }
  }
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK) {
      std::string why = ctx_->errstr[0] ? ctx_->errstr : "lost connection";
      drop(why);
      out.resize(commands.size(), failure(why));
      return out;
    }
    out.push_back(convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return out;
}

redis_reply redis_connection::eval(const std::string& script, const std::string& sha1,
                                   const std::vector<std::string_view>& keys, const std::vector<std::string_view>& args) {
  std::string nkeys = std::to_string(keys.size());
  std::vector<std::string_view> argv = {"EVALSHA", sha1, nkeys};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  redis_reply r = command(argv);
  if (r.is_error() && r.text.rfind("NOSCRIPT", 0) == 0) {
    argv[0] = "EVAL";
    argv[1] = script;
    r = command(argv);
  }
  return r;
}

std::string redis_connection::sha1_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha1(), nullptr);  // Redis names scripts by SHA-1
  return to_hex(digest, len);
}

}  // namespace g::net
