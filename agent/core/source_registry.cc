#include "agent/core/source.h"
#include "agent/sources/access/access_source.h"
#include "agent/sources/files/files_source.h"
#include "agent/sources/generator/generator_source.h"
#include "agent/sources/gpu/gpu_source.h"
#include "agent/sources/host_metrics/host_metrics_source.h"
#include "agent/sources/journald/journald_source.h"
#include "agent/sources/otlp/otlp_source.h"

namespace custos::agent {

const std::vector<SourceRegistration>& SourceRegistry() {
  static const std::vector<SourceRegistration> kSources = {
      {"host_metrics", &host_metrics::CreateHostMetricsSource, true},
      {"journald", &journald::CreateJournaldSource, true},
      {"files", &files::CreateFilesSource, false},
      {"gpu", &gpu::CreateGpuSource, true},
      {"otlp", &otlp::CreateOtlpSource, false},
      {"access", &access::CreateAccessSource, false},
      {"generator", &generator::CreateGeneratorSource, false},
  };
  return kSources;
}

}  // namespace custos::agent
