#pragma once
// A container plan as a docker-compose file, so a user can reproduce (and tinker with) a job by
// hand: `docker-compose -f <file> up`. smlocal itself never runs docker-compose; it drives the
// Docker Engine API with the same plan.
//
// LIMITATIONS vs running the job in smlocal: nothing stages inputs, feeds Pipe-mode FIFOs,
// uploads model.tar.gz/output.tar.gz, extracts metrics or enforces MaxRuntimeInSeconds; the bind
// sources (including the /opt/ml/input/config files) must already exist.

#include <string>

#include "compose/container_plan.hpp"

namespace smlocal::compose {

/// The plan as a docker-compose file in format "3.8" (read by Debian's docker-compose 1.29 and by
/// the Compose v2 plugin). One service per host (named like the host: algo-1, ...) with image,
/// container_name, hostname, entrypoint/command, environment, bind volumes (`src:dst[:ro]`, or
/// the long form when a path holds ':'), shm_size in bytes, labels, extra_hosts (every host's
/// fixed address, when the plan has a subnet; host.docker.internal, when it has an endpoint URL,
/// which a header comment names too), the job network with the host's alias (and its
/// ipv4_address), init, stop_grace_period, `deploy.resources` limits when the plan sets them, and
/// an NVIDIA device reservation when it requests GPUs; then the job's network (internal when the
/// job is network-isolated; on the plan's subnet through `ipam`, when it has one). A plan without
/// a subnet (as `smlocal compose` makes it) gives no addresses: hosts then resolve through
/// Docker's DNS, which forgets a host once its container exits. Every string is a double-quoted YAML scalar with escapes, and `$` is
/// doubled so Compose does not interpolate it. The plan's warnings appear as comments.
/// Deterministic: the same plan always gives the same bytes.
std::string to_compose_yaml(const container_plan& plan);

}  // namespace smlocal::compose
