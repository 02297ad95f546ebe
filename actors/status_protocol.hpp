#pragma once
// `g-actor status` talks to a node actor in two requests: `status` → "<node id>:<challenge>", then
// `status, client id, challenge, proof` → the cluster view JSON, or `status_denied`. The proof is the same
// HMAC over the cookie that nodes use between themselves, so the cookie never travels.
#include <caf/atom.hpp>

#include <cstdint>
#include <string>

#include "net/peer_auth.hpp"
#include "net/status_challenges.hpp"

namespace g::actors {

using status_atom = caf::atom_constant<caf::atom("status")>;
inline const std::string status_denied = "DENIED";

}  // namespace g::actors
