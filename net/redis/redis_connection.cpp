#include "net/redis/redis_connection.hpp"

#include "net/clock.hpp"
#include "net/hex.hpp"
#include "net/log.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <openssl/evp.h>


namespace g::net {

namespace {

redis_reply convert(const redisReply* r) {  // NOLINT(misc-no-recursion): a reply nests as deep as Redis made it
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

std::string redis_endpoint::describe() const {
  if (sentinels.empty()) return redis_address{host, port}.text();
  return "master \"" + sentinel_master + "\" of sentinels " + [this] {
    std::string all;
    for (auto& s : sentinels) all += (all.empty() ? "" : ",") + s.text();
    return all;
  }();
}

redis_connection::redis_connection(redis_endpoint endpoint) : ep_(std::move(endpoint)), at_{ep_.host, ep_.port} {}

redis_connection::~redis_connection() {
  if (ctx_) redisFree(ctx_);
  drop_sentinel();
}

std::string redis_connection::address() const {
  if (ep_.sentinels.empty()) return at_.text();
  return at_.text() + " (master \"" + ep_.sentinel_master + "\")";
}

void redis_connection::drop_sentinel() {
  if (sentinel_) redisFree(sentinel_);
  sentinel_ = nullptr;
}

std::optional<redis_address> redis_connection::ask_sentinels() {
  std::string errors;
  // A sentinel answers at once or not at all: a short timeout keeps a dead one from stalling the Redis thread.
  const std::int64_t timeout = std::min<std::int64_t>(ep_.timeout_ms, 500);
  for (std::size_t tried = 0; tried < ep_.sentinels.size(); ++tried) {
    const redis_address& s = ep_.sentinels[sentinel_index_];
    if (!sentinel_) {
      sentinel_ = redisConnectWithTimeout(s.host.c_str(), s.port, to_timeval(timeout));
      if (sentinel_ && !sentinel_->err) {
        redisSetTimeout(sentinel_, to_timeval(timeout));
        // Sentinels share Redis's password; one without a password refuses AUTH, which is no error here (a
        // sentinel that needs one refuses the question below instead).
        if (!ep_.password.empty())
          if (void* r = redisCommand(sentinel_, "AUTH %b", ep_.password.data(), ep_.password.size())) freeReplyObject(r);
      }
    }
    std::string why;
    if (!sentinel_ || sentinel_->err) {
      why = sentinel_ ? sentinel_->errstr : "out of memory";
    } else if (auto* r = static_cast<redisReply*>(redisCommand(sentinel_, "SENTINEL get-master-addr-by-name %b",
                                                                ep_.sentinel_master.data(), ep_.sentinel_master.size()))) {
      redis_reply reply = convert(r);
      freeReplyObject(r);
      if (reply.type == redis_reply::array && reply.elements.size() == 2) {
        std::uint16_t port = 0;
        try {
          port = static_cast<std::uint16_t>(std::stoi(reply.elements[1].text));
        } catch (const std::exception&) {
        }
        if (port != 0) {
          asked_ms_ = steady_ms();
          sentinels_silent_ = false;
          return redis_address{reply.elements[0].text, port};
        }
        why = "answered a port that is none: " + reply.elements[1].text;
      } else if (reply.type == redis_reply::nil) {
        why = "knows no master \"" + ep_.sentinel_master + "\"";
      } else {
        why = reply.is_error() ? reply.text : "answered neither an address nor nil";
      }
    } else {
      why = sentinel_->errstr[0] ? sentinel_->errstr : "no answer";
    }
    errors += (errors.empty() ? "" : "; ") + s.text() + ": " + why;
    drop_sentinel();
    sentinel_index_ = (sentinel_index_ + 1) % ep_.sentinels.size();
  }
  error_ = "no sentinel named a master for \"" + ep_.sentinel_master + "\" (" + errors + ")";
  asked_ms_ = steady_ms();
  sentinels_silent_ = true;
  return std::nullopt;
}

bool redis_connection::moved_by_sentinels() {
  // Once a second while they answer; every 10 s after none did (each silent one costs its timeout, and READONLY
  // or a dead connection reveal a failover anyway).
  if (ep_.sentinels.empty() || steady_ms() - asked_ms_ < (sentinels_silent_ ? 10000 : 1000)) return false;
  auto named = ask_sentinels();
  return named && !(*named == at_);  // no answer: keep the master in hand; it fails on its own if it is gone
}

void redis_connection::back_off() {
  backoff_ms_ = backoff_ms_ ? std::min<std::int64_t>(backoff_ms_ * 2, 1000) : 200;
  retry_after_ms_ = steady_ms() + backoff_ms_;
}

void redis_connection::drop(const std::string& why) {
  error_ = why;
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

bool redis_connection::ensure_connected() {
  if (ctx_ && moved_by_sentinels()) drop("the sentinels moved master \"" + ep_.sentinel_master + "\" away from " + at_.text());
  if (ctx_) return true;
  if (steady_ms() < retry_after_ms_) return false;  // error_ still says why
  if (connect()) {
    backoff_ms_ = 0;
    return true;
  }
  back_off();  // from the end of the failed attempt, which may have waited out its timeout
  return false;
}

bool redis_connection::connect() {
  if (!ep_.sentinels.empty()) {
    auto named = ask_sentinels();
    if (!named) return false;
    at_ = *named;
  }
  redisContext* c = redisConnectWithTimeout(at_.host.c_str(), at_.port, to_timeval(ep_.timeout_ms));
  if (!c || c->err) {
    error_ = "cannot connect to Redis at " + address() + ": " + (c ? c->errstr : "out of memory");
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
  if (!ep_.sentinels.empty()) {
    // During a failover the sentinels may still name the old master, now a replica: wait for the promotion.
    auto role = command({"ROLE"});
    if (role.type != redis_reply::array || role.elements.empty() || role.elements[0].text != "master") {
      drop("Redis at " + address() + " is not a master (yet): " +
           (role.is_error() ? role.text : role.elements.empty() ? "no ROLE" : role.elements[0].text));
      return false;
    }
  }
  if (!ep_.client_name.empty()) {
    auto r = command({"CLIENT", "SETNAME", ep_.client_name});
    if (redis_connection::transport_failure(r)) return false;
    // An ACL without CLIENT: the connection works unnamed (Redis then cannot witness that this node lives).
    if (r.is_error() && !name_refused_) {
      name_refused_ = true;
      LOG_WARN("Redis refused CLIENT SETNAME (%s): the master cannot tell this node's death "
                           "from a partition\n", r.text.c_str());
    }
  }
  ++connections_;
  {
    std::lock_guard l(in_use_mu_);
    in_use_ = at_;
  }
  return true;
}

std::optional<redis_address> redis_connection::master_in_use() const {
  std::lock_guard l(in_use_mu_);
  return in_use_;
}

redis_reply redis_connection::from_hiredis(const redisReply* r) { return convert(r); }

redis_reply redis_connection::transport_error(const std::string& why) { return failure(why); }

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
      back_off();
      out.assign(commands.size(), failure(why));
      return out;
    }
  }
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK) {
      std::string why = ctx_->errstr[0] ? ctx_->errstr : "lost connection";
      drop(why);
      back_off();  // the jobs queued behind this one fail at once rather than each waiting out the timeout
      out.resize(commands.size(), failure(why));
      return out;
    }
    out.push_back(convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  answered_ms_ = steady_ms();
  // A master turned replica by a failover refuses writes: with sentinels, find the new master on the next call.
  if (!ep_.sentinels.empty())
    for (auto& r : out)
      if (r.is_error() && r.text.rfind("READONLY", 0) == 0) {
        drop("Redis at " + address() + " is read-only now: " + r.text);
        break;
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
