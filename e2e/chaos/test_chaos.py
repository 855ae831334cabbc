"""A short chaos campaign (e2e/chaos/campaign.py; hack/chaos.sh runs the long one): faults in
every registry account, a leader SIGKILL, an API server restart, an etcd compaction, a moved and
an added tag, all during one minute; then every check of the campaign must pass (deliveries
Ready at their source digests, exactly one openssl-verified signature per delivered digest and
target, immutable tags never moved, no incomplete tag ever seen, no crash, memory steady)."""
import sys
import unittest

import procs
from campaign import Campaign


class ChaosTest(procs.TempDirTestCase):
    def test_short_campaign(self):
        c = Campaign(self, deliveries=3, duration_s=50, kills=1, converge_timeout_s=240,
                     quiet_s=10)
        try:
            failures = c.run()
        finally:
            c.report(out=sys.stderr)
        self.assertEqual(failures, [])
        # the campaign did inject what it claims
        self.assertEqual(c.figures["kills"], 1)
        self.assertGreater(c.figures["faults_total"], 0)
        for kind in ("5xx", "429", "reset"):
            self.assertIn(kind, c.figures["faults"])
        self.assertGreater(c.figures["watch_samples"], 0)
        # when the moved tag reached both targets before it moved (the campaign waits up to
        # 2 minutes for that), its earlier digest was checked too
        if not any("before it reached both targets" in e for e in c.events):
            self.assertGreaterEqual(c.figures["earlier_digests_checked"], 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
