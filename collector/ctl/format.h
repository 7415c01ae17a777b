// Text rendering for custosctl: aligned tables, times and sizes that a person
// reads at a glance. Pure functions; thread-compatible.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace custos::ctl {

// Columns padded to their widest cell; the first row is the header.
std::string RenderTable(const std::vector<std::vector<std::string>>& rows);
// "2026-11-26T14:52:34.123Z"
std::string FormatTime(int64_t unix_nanos);
// "3s", "4m12s", "2h5m", "3d4h"
std::string FormatAge(int64_t nanos);
// "512 B", "12.3 KiB", "4.0 MiB"
std::string FormatBytes(uint64_t bytes);
// The `custosctl status` text from the API's /api/v1/status JSON.
std::string RenderStatus(const nlohmann::json& status);
// The `custosctl query` text from the API's /api/v1/query JSON.
std::string RenderRecords(const nlohmann::json& result);

}  // namespace custos::ctl
