#include "agent/core/source.h"
#include "agent/sources/generator/generator_source.h"
#include "agent/sources/host_metrics/host_metrics_source.h"

namespace custos::agent {

const std::vector<SourceRegistration>& SourceRegistry() {
  static const std::vector<SourceRegistration> kSources = {
      {"host_metrics", &host_metrics::CreateHostMetricsSource},
      {"generator", &generator::CreateGeneratorSource},
  };
  return kSources;
}

}  // namespace custos::agent
