#pragma once
// The web dashboard: GET / serves a single page (dashboard/ at the repo root, compiled into the
// binary) that lists training and tuning jobs, tails a job's logs and plots its metrics. The page
// reads everything it can through smlocal's own AWS JSON APIs (ListTrainingJobs, GetLogEvents...);
// this service adds only what those APIs do not give: a training job's metric time series.
//
// LIMITATIONS vs the SageMaker console:
// - Read-only: no create, stop or tag actions.
// - The page calls the AWS APIs unsigned, so it cannot work against a server that verifies SigV4.
// - Metric series come from this server's store; there is no CloudWatch Metrics API behind them.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http/http_server.hpp"
#include "emulator/training_jobs.hpp"

namespace smlocal::api {

/// One file of the page, embedded at build time.
struct dashboard_asset {
    std::string_view name;          // as under /_smlocal/ui/, e.g. "app.js"
    std::string_view content_type;  // with charset
    std::string_view content;
    std::string etag;               // quoted, a hash of the content
};

/// Every embedded file of the page (index.html, app.js, style.css).
const std::vector<dashboard_asset>& dashboard_assets();

/// The body of GET /_smlocal/api/training-jobs/<name>/metrics: {"TrainingJobName", "Metrics":
/// [{"MetricName", "Points": [{"Timestamp" (epoch seconds), "Value" (null when not finite),
/// "Epoch" (when known)}]}]}, metrics in order of first appearance, points in append order.
nlohmann::json metric_series_json(const std::string& job_name, const std::vector<metric_point>& points);

/// Serves the page, its assets and its JSON API. Metric series are read from the training-job
/// service (one quick SQLite read per request), which also tells an unknown job (404) from one
/// without points yet.
class dashboard_service {
public:
    explicit dashboard_service(const training_job_service& training_jobs);

    /// True for GET/HEAD of "/" and anything under "/_smlocal/ui/" or "/_smlocal/api/".
    bool handles(const http_request_header& header) const;

    /// The page, an asset (with an ETag; 304 when If-None-Match matches it) or a JSON API answer.
    /// Unknown files and jobs get 404, other methods 405. Never throws for a bad request.
    http_response handle(const http_request& request) const;

private:
    http_response serve_asset(const http_request& request, const dashboard_asset& asset) const;
    http_response serve_api(const http_request& request, std::string_view path) const;

    const training_job_service& training_jobs_;
};

}  // namespace smlocal::api
