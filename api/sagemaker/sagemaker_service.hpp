#pragma once
// SageMaker operations: thin handlers that read the validated request, call the emulator, and
// shape the response. LIMITATIONS vs real SageMaker are listed in emulator/training_jobs.hpp.

#include "api/router.hpp"
#include "emulator/tags.hpp"
#include "emulator/training_jobs.hpp"
#include "emulator/tuning/tuning_jobs.hpp"

namespace smlocal::api {

/// The SageMaker service for the router: prefix "SageMaker", the embedded model, every operation
/// we serve.
json_service make_sagemaker_service(training_job_service& training_jobs, tuning::tuning_job_service& tuning_jobs,
                                    tag_service& tags);

}  // namespace smlocal::api
