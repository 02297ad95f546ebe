#pragma once
// The store's answers are the cluster's one result type (cluster/store_result.hpp): the pure machines take them as
// inputs unchanged.
#include "cluster/store_result.hpp"

namespace g::net {
using cluster::nothing;
using cluster::outcome_name;
using cluster::store_outcome;
using cluster::store_result;
}  // namespace g::net
