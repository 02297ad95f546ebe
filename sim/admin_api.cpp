// The admin API under /_fakecord/: statistics, fault injection, load control, single dispatches, and the
// commands clients sent. JSON in and out.
#include <simdjson.h>

#include <charconv>

#include "net/discord/intents.hpp"
#include "net/discord/snowflake.hpp"
#include "net/json/json_writer.hpp"
#include "sim/events.hpp"
#include "sim/gateway_connection.hpp"
#include "sim/http_api.hpp"
#include "sim/interaction_maker.hpp"
#include "sim/load_generator.hpp"

namespace g::sim {

namespace dom = simdjson::dom;

namespace {

dom::parser& parser_for_messages() {
  static thread_local dom::parser p;
  return p;
}


// `with_sessions` false leaves out the list of sessions: a poller of counters at 10,000 sessions would otherwise
// cost g-fakecord a sort and a megabyte of JSON per request, and slow the very thing it measures.
http_reply stats(fakecord& fc, bool with_sessions) {
  http_reply r;
  json::writer w(r.body);
  w.begin_object()
      .field("connections", static_cast<std::uint64_t>(fc.connection_count()))
      .field("identifies", fc.identifies)
      .field("identify_arrivals_uncertain", fc.identify_arrivals_uncertain)
      .field("resumes", fc.resumes)
      .field("session_starts_waiting", static_cast<std::uint64_t>(fc.session_starts_waiting()))
      .field("backlog_bytes", static_cast<std::uint64_t>(fc.backlog_bytes()))
      .field("heartbeats", fc.heartbeats)
      .key("heartbeat_timing")
      .begin_object()
      .field("on_time", fc.heartbeat_timing.on_time)
      .field("late_under_1s", fc.heartbeat_timing.late_under_1s)
      .field("late_over_1s", fc.heartbeat_timing.late_over_1s)
      .field("worst_ms", fc.heartbeat_timing.worst_ms)
      .end_object()
      .key("loop_lag")
      .begin_object()
      .field("over_100ms", fc.lag.over_100ms)
      .field("over_1s", fc.lag.over_1s)
      .field("worst_ms", fc.lag.worst_ms)
      .end_object()
      .field("dispatches_sent", fc.dispatches_sent)
      .field("bytes_sent", fc.bytes_sent)
      .field("generated_total", fc.load().generated())
      .field("rest_calls", fc.rest_calls)
      .field("rest_429s", fc.rest_429s)
      .field("shed", fc.load().shed())
      .field("rate", fc.load().rate())
      .key("generated")
      .begin_object();
  for (auto& [t, n] : fc.generated()) w.field(t, n);
  w.end_object().key("undelivered").begin_object();
  for (auto& [t, n] : fc.undelivered()) w.field(t, n);
  w.end_object().key("undelivered_recent").begin_array();
  for (auto& u : fc.undelivered_recent())
    w.begin_object().field("t", u.t).field("guild_id", std::to_string(u.guild_id)).field("at_us", u.at_us).field("why", u.why).end_object();
  w.end_array().key("violations").begin_object();
  for (auto& [kind, n] : fc.violations()) w.field(kind, n);
  w.end_object().key("violations_recent").begin_array();
  for (auto& v : fc.violations_recent())
    w.begin_object().field("kind", v.kind).field("at_us", v.at_us).field("detail", v.detail).end_object();
  w.end_array().key("client_closes").begin_object();
  for (auto& [code, n] : fc.client_closes) w.field(std::to_string(code), n);
  w.end_object();
  if (!with_sessions) {
    w.end_object();
    return r;
  }
  w.key("sessions").begin_array();
  for (const session* s : fc.sessions()) {
    w.begin_object()
        .field("shard", s->shard_id)
        .field("shards", s->shard_count)
        .field("session_id", s->id)
        .field("seq", s->seq)
        .field("connected", s->conn != nullptr)
        .field("transport", s->conn ? s->conn->transport() : std::string_view{})
        .end_object();
  }
  w.end_array().end_object();
  return r;
}

http_reply received(fakecord& fc, std::string_view query) {
  int op_filter = -1;
  if (auto pos = query.find("op="); pos != std::string_view::npos) {
    auto v = query.substr(pos + 3);
    std::from_chars(v.data(), v.data() + v.size(), op_filter);
  }
  http_reply r;
  json::writer w(r.body);
  w.begin_object().key("commands").begin_array();
  for (const auto& c : fc.received()) {
    if (op_filter >= 0 && c.op != op_filter) continue;
    w.begin_object()
        .field("shard", c.shard_id)
        .field("shards", c.shard_count)
        .field("op", c.op)
        .field("session_id", c.session_id)
        .raw_field("d", c.d)
        .field("at_ms", c.at)
        .end_object();
  }
  w.end_array().end_object();
  return r;
}

// The guild as a GUILD_CREATE would carry it now, with every member, voice state and active thread: the truth a
// cache is checked against. 404 when the bot is not in it.
http_reply guild_truth(fakecord& fc, std::string_view id_text) {
  auto id = discord::parse_snowflake(id_text);
  if (!id) return admin_error(400, "guild id is not a snowflake");
  std::optional<int> g = fc.data().guild_index(*id);
  if (!g) return admin_error(404, "no such guild");
  if (!fc.data().bot_in(*g)) return admin_error(404, "the bot is not in that guild");
  http_reply r;
  json::writer w(r.body);
  fc.data().write_guild_truth(w, *g);
  return r;
}

// The REST calls g-fakecord answered, oldest first; ?method=, ?route= (the template, or a prefix of the path) and
// ?status= narrow them.
http_reply rest_log(fakecord& fc, std::string_view query) {
  auto value = [&](std::string_view key) -> std::string {
    for (std::string_view q = query; !q.empty();) {
      auto amp = q.find('&');
      std::string_view part = q.substr(0, amp);
      if (part.rfind(key, 0) == 0 && part.size() > key.size() && part[key.size()] == '=') {
        std::string v(part.substr(key.size() + 1));
        std::string out;  // %XX decoding for {…} and /
        for (std::size_t i = 0; i < v.size(); ++i) {
          if (v[i] == '%' && i + 2 < v.size()) {
            out += static_cast<char>(std::stoi(v.substr(i + 1, 2), nullptr, 16));
            i += 2;
          } else {
            out += v[i];
          }
        }
        return out;
      }
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
    return {};
  };
  const std::string method = value("method"), route = value("route"), status = value("status");
  http_reply r;
  json::writer w(r.body);
  w.begin_object().key("calls").begin_array();
  for (const auto& c : fc.rest_log()) {
    if (!method.empty() && c.method != method) continue;
    if (!route.empty() && c.route != route && c.path.rfind(route, 0) != 0) continue;
    if (!status.empty() && std::to_string(c.status) != status) continue;
    w.begin_object().field("method", c.method).field("route", c.route).field("path", c.path).field("body", c.body)
        .field("status", c.status).field("at_ms", c.at).end_object();
  }
  w.end_array().end_object();
  return r;
}

// Every guild of the world, and whether the bot is in it.
http_reply guild_list(fakecord& fc) {
  http_reply r;
  json::writer w(r.body);
  w.begin_object().key("guilds").begin_array();
  for (int g = 0; g < fc.data().guild_count(); ++g)
    w.begin_object().id_field("id", fc.data().guild_id(g)).field("bot", fc.data().bot_in(g)).end_object();
  w.end_array().end_object();
  return r;
}

http_reply dispatch(fakecord& fc, const dom::element& body) {
  std::string_view t;
  dom::object d;
  if (body["t"].get_string().get(t) != simdjson::SUCCESS || t.empty())
    return admin_error(400, "dispatch needs \"t\" (an event name)");
  if (body["d"].get_object().get(d) != simdjson::SUCCESS) return admin_error(400, "dispatch needs \"d\" (an object)");
  std::uint64_t guild_id = 0;
  std::string_view gid_text;
  if (body["guild_id"].get_string().get(gid_text) == simdjson::SUCCESS) {
    auto parsed = discord::parse_snowflake(gid_text);
    if (!parsed) return admin_error(400, "guild_id is not a snowflake");
    guild_id = *parsed;
  }
  const world& wd = fc.data();
  std::optional<int> guild = guild_id ? wd.guild_index(guild_id) : std::nullopt;
  if (guild_id && !guild) return admin_error(404, "no such guild");

  // The given fields win; what real clients need and `d` leaves out is filled in.
  auto render = [&](std::string& out, bool blank_content) {
    json::writer w(out);
    w.begin_object();
    for (auto field : d) {
      if (blank_content && field.key == "content") continue;
      w.raw_field(field.key, simdjson::minify(field.value));
    }
    auto given = [&](std::string_view key) {
      dom::element unused;
      return d[key].get(unused) == simdjson::SUCCESS;
    };
    if (guild && (t == "MESSAGE_CREATE" || t == "MESSAGE_UPDATE")) {
      message_spec m;
      m.guild = *guild;
      std::optional<member_state> author = wd.some_member(*guild, 0);
      m.author = author ? &*author : nullptr;
      m.channel_id = wd.some_text_channel(*guild, 0);
      std::int64_t us = fc.wall_clock_us ? fc.wall_clock_us() : 0;
      m.unix_ms = us / 1000;
      m.id = discord::make_snowflake(static_cast<std::uint64_t>(m.unix_ms), static_cast<std::uint64_t>(us % 4096));
      m.content = "";
      write_message_fields(w, wd, m, [&](std::string_view key) {
        return (given(key) && !(blank_content && key == "content")) || key == "nonce";
      });
    } else if (guild && !given("guild_id")) {
      w.id_field("guild_id", guild_id);
    }
    w.end_object();
  };
  std::string full, plain;
  render(full, false);
  if (t == "MESSAGE_CREATE" || t == "MESSAGE_UPDATE") render(plain, true);
  int delivered = fc.dispatch_guild_event(guild_id, t, full, discord::intent::gating(t, guild.has_value()), plain);
  // A message stays findable by REST (a bot replies to it, reacts to it, reads it).
  std::string message_id;
  if (guild && t == "MESSAGE_CREATE") {
    dom::element m;
    std::string_view id, channel;
    if (parser_for_messages().parse(full).get(m) == simdjson::SUCCESS && m["id"].get_string().get(id) == simdjson::SUCCESS &&
        m["channel_id"].get_string().get(channel) == simdjson::SUCCESS) {
      stored_message s;
      s.id = discord::parse_snowflake(id).value_or(0);
      s.channel_id = discord::parse_snowflake(channel).value_or(0);
      s.guild_id = guild_id;
      s.raw = full;
      message_id = std::string(id);
      fc.messages().put(std::move(s));
    }
  }
  http_reply r;
  json::writer w(r.body);
  w.begin_object().field("delivered", delivered);
  if (!message_id.empty()) w.field("id", message_id);
  if (delivered == 0) w.field("reason", fc.why_undelivered(guild_id, discord::intent::gating(t, guild.has_value())));
  w.end_object();
  return r;
}

}  // namespace

http_reply admin_error(int status, std::string_view message) {
  http_reply r;
  r.status = status;
  json::writer w(r.body);
  w.begin_object().field("error", message).end_object();
  return r;
}

http_reply handle_admin(fakecord& fc, const http_request_view& req, std::string_view route, millis now) {
  std::string_view query;
  if (auto q = req.target.find('?'); q != std::string_view::npos) query = req.target.substr(q + 1);
  if (route == "stats" && req.method == "GET") return stats(fc, query.find("sessions=false") == std::string_view::npos);
  if (route == "received" && req.method == "GET") return received(fc, query);
  if (route.rfind("guild/", 0) == 0 && req.method == "GET") return guild_truth(fc, route.substr(6));
  if (route == "guilds" && req.method == "GET") return guild_list(fc);
  if (route == "rest" && req.method == "GET") return rest_log(fc, query);
  if (route != "fault" && route != "load" && route != "dispatch" && route != "rest_fault" && route != "interaction")
    return admin_error(404, "unknown admin endpoint");
  if (req.method != "POST") return admin_error(405, "use POST");

  static thread_local dom::parser parser;
  dom::element body;
  if (parser.parse(req.body.data(), req.body.size()).get(body) != simdjson::SUCCESS ||
      body.type() != dom::element_type::OBJECT)
    return admin_error(400, "the body must be a JSON object");

  http_reply r;
  json::writer w(r.body);
  if (route == "fault") {
    std::int64_t shard = -1;
    std::string_view kind;
    if (body["shard"].get_int64().get(shard) != simdjson::SUCCESS || shard < 0)
      return admin_error(400, "fault needs \"shard\" (an integer)");
    if (body["kind"].get_string().get(kind) != simdjson::SUCCESS || !fakecord::valid_fault(kind))
      return admin_error(400, "unknown fault kind (reconnect, invalidate, invalidate_resumable, close:<code>, drop, "
                              "zombie, stall, heartbeat_request)");
    std::int64_t total = 0;  // optional: only sessions of this many shards (a reshard runs two totals at once)
    if (body["shards"].get_int64().get(total) != simdjson::SUCCESS) total = 0;
    int applied = fc.apply_fault(static_cast<int>(shard), kind, now, static_cast<int>(total));
    if (applied == 0) return admin_error(404, "no connected session for that shard");
    w.begin_object().field("applied", applied).end_object();
    return r;
  }
  if (route == "load") {
    double rate = 0;
    dom::element rate_e;
    if (body["rate"].get(rate_e) == simdjson::SUCCESS) {
      if (rate_e.get_double().get(rate) != simdjson::SUCCESS || rate < 0)
        return admin_error(400, "\"rate\" must be a number >= 0");
    } else {
      rate = fc.load().rate();
    }
    dom::object mix;
    if (body["mix"].get_object().get(mix) == simdjson::SUCCESS) {
      for (auto field : mix) {
        double weight = 0;
        if (field.value.get_double().get(weight) != simdjson::SUCCESS || !fc.load().set_weight(field.key, weight))
          return admin_error(400, "unknown event in \"mix\" or weight not a number");
      }
    }
    fc.load().set_rate(rate, now);
    w.begin_object().field("rate", rate).end_object();
    return r;
  }
  if (route == "rest_fault") {
    std::int64_t status = 0, count = 1;
    double retry_after = 1.0;
    if (body["status"].get_int64().get(status) != simdjson::SUCCESS || status < 400 || status > 599)
      return admin_error(400, "rest_fault needs \"status\" (400-599)");
    if (body["count"].get_int64().get(count) != simdjson::SUCCESS) count = 1;
    if (body["retry_after"].get_double().get(retry_after) != simdjson::SUCCESS) retry_after = 1.0;
    fc.pending_rest_fault() = {static_cast<int>(status), static_cast<int>(count), retry_after};
    w.begin_object().field("status", status).field("count", count).end_object();
    return r;
  }
  if (route == "interaction") return make_interaction(fc, body, now);
  return dispatch(fc, body);
}

}  // namespace g::sim
