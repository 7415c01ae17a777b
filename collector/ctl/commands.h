// custosctl's commands. Each takes its arguments (after the command name) and
// returns the process exit code; output goes to stdout, errors to stderr.
#pragma once

#include <string>
#include <vector>

namespace custos::ctl {

using Args = std::vector<std::string>;

int RunKeygen(const Args& args);
int RunEnroll(const Args& args);
int RunUnenroll(const Args& args);
int RunStatus(const Args& args);
int RunQuery(const Args& args);
// alerts [--rule R] [--since T] ...: the alerts raised (query --kind alerts)
int RunAlerts(const Args& args);
// silence add | list | expire (audited)
int RunSilence(const Args& args);
// audit export | verify
int RunAudit(const Args& args);
// policy check | test | explain | diff | unused
int RunPolicy(const Args& args);
// rca INCIDENT | --at T: root-cause analysis from the store file
int RunRca(const Args& args);
// incidents [--all]: grouped alerts with their likely cause
int RunIncidents(const Args& args);

}  // namespace custos::ctl
