#include "net/gateway/client_payload.hpp"

#include "net/discord/intents.hpp"

namespace g::net {

namespace dom = simdjson::dom;

namespace {

// Stands in for a missing `d`, so handlers never touch an element that points nowhere.
const dom::element& json_null() {
  static thread_local dom::parser p;
  static thread_local dom::element e = p.parse(std::string_view("null")).value();
  return e;
}

}  // namespace

int client_refusal_code(client_refusal r) {
  switch (r) {
    case client_refusal::rate_limited: return 4008;
    case client_refusal::too_large:
    case client_refusal::undecodable: return 4002;
    case client_refusal::unknown_opcode:
    case client_refusal::invalid_payload: return 4001;
    case client_refusal::not_authenticated: return 4003;
    case client_refusal::already_authenticated: return 4005;
    case client_refusal::authentication_failed: return 4004;
    case client_refusal::invalid_shard: return 4010;
    case client_refusal::invalid_intents: return 4013;
    case client_refusal::disallowed_intents: return 4014;
    case client_refusal::none: break;
  }
  return 4000;
}

std::string_view client_refusal_reason(client_refusal r) {
  switch (r) {
    case client_refusal::rate_limited: return "Rate limited.";
    case client_refusal::too_large: return "Payload too large.";
    case client_refusal::undecodable: return "Error while decoding payload.";
    case client_refusal::unknown_opcode: return "Unknown opcode.";
    case client_refusal::invalid_payload: return "Invalid payload for opcode.";
    case client_refusal::not_authenticated: return "Not authenticated.";
    case client_refusal::already_authenticated: return "Already authenticated.";
    case client_refusal::authentication_failed: return "Authentication failed.";
    case client_refusal::invalid_shard: return "Invalid shard.";
    case client_refusal::invalid_intents: return "Invalid intent(s).";
    case client_refusal::disallowed_intents: return "Disallowed intent(s).";
    case client_refusal::none: break;
  }
  return "Unknown error.";
}

std::string_view client_refusal_name(client_refusal r) {
  switch (r) {
    case client_refusal::rate_limited: return "rate_limit";
    case client_refusal::too_large: return "payload_too_large";
    case client_refusal::undecodable: return "decode_error";
    case client_refusal::unknown_opcode: return "unknown_opcode";
    case client_refusal::invalid_payload: return "invalid_payload";
    case client_refusal::not_authenticated: return "not_authenticated";
    case client_refusal::already_authenticated: return "already_authenticated";
    case client_refusal::authentication_failed: return "authentication_failed";
    case client_refusal::invalid_shard: return "invalid_shard";
    case client_refusal::invalid_intents: return "invalid_intents";
    case client_refusal::disallowed_intents: return "disallowed_intents";
    case client_refusal::none: break;
  }
  return "none";
}

bool client_decoder::token_ok(std::string_view& token) const {
  if (token.rfind("Bot ", 0) == 0) token.remove_prefix(4);
  return !token.empty() && (rules_.token.empty() || token == rules_.token);
}

client_payload client_decoder::decode(std::string_view payload, std::int64_t now_ms, bool authenticated) {
  client_payload p;
  auto refuse = [&](client_refusal r) {
    p.what = client_payload::refused;
    p.refusal = r;
    return p;
  };
  if (!sends_.allows(now_ms)) return refuse(client_refusal::rate_limited);
  sends_.record(now_ms);
  if (payload.size() > max_payload) return refuse(client_refusal::too_large);
  dom::element doc;
  if (parser_.parse(payload.data(), payload.size()).get(doc) != simdjson::SUCCESS ||
      doc.type() != dom::element_type::OBJECT)
    return refuse(client_refusal::undecodable);
  if (doc["op"].get_int64().get(p.op) != simdjson::SUCCESS) return refuse(client_refusal::undecodable);
  if (doc["d"].get(p.d) != simdjson::SUCCESS) p.d = json_null();
  switch (p.op) {
    case 1:
      p.what = client_payload::heartbeat;
      return p;
    case 2:
      if (authenticated) return refuse(client_refusal::already_authenticated);
      decode_identify(p);
      return p;
    case 6:
      if (authenticated) return refuse(client_refusal::already_authenticated);
      decode_resume(p);
      return p;
    case 3: case 4: case 8: case 31: case 43:
      if (!authenticated) return refuse(client_refusal::not_authenticated);
      if (p.d.type() != dom::element_type::OBJECT) return refuse(client_refusal::invalid_payload);
      p.what = client_payload::command;
      return p;
    default:
      return refuse(client_refusal::unknown_opcode);
  }
}

void client_decoder::decode_identify(client_payload& p) const {
  auto refuse = [&](client_refusal r) {
    p.what = client_payload::refused;
    p.refusal = r;
  };
  dom::object obj;
  if (p.d.get_object().get(obj) != simdjson::SUCCESS) return refuse(client_refusal::invalid_payload);
  client_identify& id = p.ident;
  if (obj["token"].get_string().get(id.token) != simdjson::SUCCESS) id.token = {};
  if (!token_ok(id.token)) return refuse(client_refusal::authentication_failed);
  namespace intent = discord::intent;
  if (obj["intents"].get_uint64().get(id.intents) != simdjson::SUCCESS || (id.intents & ~intent::all_valid) != 0)
    return refuse(client_refusal::invalid_intents);
  if ((id.intents & intent::privileged & ~rules_.allowed_privileged) != 0)
    return refuse(client_refusal::disallowed_intents);
  dom::element shard;
  if (obj["shard"].get(shard) == simdjson::SUCCESS && !shard.is_null()) {
    dom::array arr;
    id.shard_sent = true;
    if (shard.get_array().get(arr) != simdjson::SUCCESS || arr.size() != 2 ||
        arr.at(0).get_int64().get(id.shard_id) != simdjson::SUCCESS ||
        arr.at(1).get_int64().get(id.shard_count) != simdjson::SUCCESS || id.shard_count < 1 || id.shard_id < 0 ||
        id.shard_id >= id.shard_count || id.shard_count > 1'000'000)
      return refuse(client_refusal::invalid_shard);
  }
  dom::element lt;
  if (obj["large_threshold"].get(lt) == simdjson::SUCCESS && !lt.is_null()) {
    if (lt.get_int64().get(id.large_threshold) != simdjson::SUCCESS || id.large_threshold < 50 ||
        id.large_threshold > 250)
      return refuse(client_refusal::invalid_payload);
  }
  id.has_presence = obj["presence"].get(id.presence) == simdjson::SUCCESS &&
                    id.presence.type() == dom::element_type::OBJECT;
  p.what = client_payload::identify;
}

void client_decoder::decode_resume(client_payload& p) const {
  auto refuse = [&](client_refusal r) {
    p.what = client_payload::refused;
    p.refusal = r;
  };
  dom::object obj;
  client_resume& r = p.res;
  if (p.d.get_object().get(obj) != simdjson::SUCCESS ||
      obj["session_id"].get_string().get(r.session_id) != simdjson::SUCCESS)
    return refuse(client_refusal::invalid_payload);
  if (obj["token"].get_string().get(r.token) != simdjson::SUCCESS) r.token = {};
  if (!token_ok(r.token)) return refuse(client_refusal::authentication_failed);
  dom::element seq;
  if (obj["seq"].get(seq) == simdjson::SUCCESS && !seq.is_null() && seq.get_int64().get(r.seq) != simdjson::SUCCESS)
    return refuse(client_refusal::invalid_payload);
  p.what = client_payload::resume;
}

}  // namespace g::net
