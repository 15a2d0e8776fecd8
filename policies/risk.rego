# METADATA
# title: Risk score
# description: |
#   Risk from 0 to 100: the sum of the gaps' severity points (data.aspm.severity_points),
#   scaled by the environment's weight (data.aspm.environments), rounded and capped at 100.
package aspm.risk

import data.aspm.facts

# points lists the severity points of every gap whose severity has points (the others count 0).
points := [p | some g in data.aspm.findings; p := data.aspm.severity_points[g.severity]]

# score is the artifact's risk in its environment; 0 when it has no gaps.
score := min({100, round(sum(points) * facts.environment.weight)})
