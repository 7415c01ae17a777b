// Series derived from the logs of one bucket (see series_frame.h), per
// service: L|n (lines), L|err (ERROR or FATAL), L|warn, L|exc (text says
// "exception" or "error"), L|tpl|<template> (lines per template, see
// log_template.h), and L|ev|<entry op>|<template>: lines of a template
// written while serving a request that entered the service through <entry
// op> (joined through the line's span id).
//
// AddShares() then adds the ratios that do not move with traffic:
// L|share|<t> = template lines / lines, L|errshare, T|opshare|<op> = spans
// of an operation / spans, and L|evshare|<op>|<t> = log events per request
// (template lines / entry spans of <op>): a new error statement written on
// every request of one operation stands out even when the service is busy.
#pragma once

#include <string>
#include <vector>

#include "collector/rca/series_frame.h"
#include "collector/rca/trace_features.h"

namespace custos::rca {

struct LogRow {
  std::string service;
  std::string message;
  int severity = 0;     // custos.v1.Severity
  std::string span_id;  // raw bytes; empty when the line has none
};

void AddLogBucket(int bucket, const std::vector<LogRow>& logs, SeriesFrame& frame, const EntryOperations* entry_ops);

// Adds the share series to every bucket; call once, after all data is in.
void AddShares(SeriesFrame& frame);

}  // namespace custos::rca
