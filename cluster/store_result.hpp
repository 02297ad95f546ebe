#pragma once
// What every operation on G's state in Redis answers: one type, three outcomes, always with the reason when it is
// not `ok`.
//
//   ok           done; `value` holds the answer
//   lost         Redis answered, and the answer is no: the lease or the claim belongs to another node, the commit
//                was refused (fenced, superseded, a gap). `value` may say more (the other holder's remaining ms).
//   unavailable  Redis did not answer, or answered something this version of G cannot read (a transport failure,
//                READONLY, OOM, WRONGTYPE, a malformed reply). The caller cannot tell whether it happened.
//
// An operation never throws: a reply it cannot read is `unavailable` with what it got. The type is pure: the
// machines in cluster/ take these answers as inputs unchanged, and net/ answers with them.
#include <string>
#include <utility>

namespace g::cluster {

enum class store_outcome { ok, lost, unavailable };

struct nothing {};  // the value of an operation that only succeeds or not

template <class T = nothing>
struct store_result {
  store_outcome outcome = store_outcome::unavailable;
  T value{};
  std::string reason;  // empty when ok

  bool ok() const { return outcome == store_outcome::ok; }
  bool lost() const { return outcome == store_outcome::lost; }
  bool unavailable() const { return outcome == store_outcome::unavailable; }

  static store_result done(T v = T{}) { return {store_outcome::ok, std::move(v), {}}; }
  static store_result refused(std::string why, T v = T{}) { return {store_outcome::lost, std::move(v), std::move(why)}; }
  static store_result failed(std::string why) { return {store_outcome::unavailable, T{}, std::move(why)}; }
};

inline const char* outcome_name(store_outcome o) {
  switch (o) {
    case store_outcome::ok: return "ok";
    case store_outcome::lost: return "lost";
    case store_outcome::unavailable: return "unavailable";
  }
  return "?";
}

}  // namespace g::cluster
