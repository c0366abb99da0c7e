"""A fake k3s: a Kubernetes API server the official client talks to over plain HTTP, with a
simulated scheduler, Deployment/ReplicaSet controllers and kubelet whose pods run
autosred-sim processes on their own loopback addresses.

Programmatic use (tests)::

    async with running_cluster(tmp_path, pull_delay=0.1, start_delay=0.2) as cluster:
        kubernetes.config.load_kube_config(config_file=str(cluster.kubeconfig))
        cluster.control(fail="ImagePullBackOff")   # applies to pods created from now on
        cluster.pods(label_selector="app=m")

Standalone: ``python -m fake_k3s --port N --kubeconfig-out FILE`` (see README.md here).
"""

from fake_k3s.cluster import FakeCluster, kubeconfig_document, running_cluster
from fake_k3s.control import FAIL_MODES, UNSCHEDULABLE_MESSAGE, Settings
from fake_k3s.kubelet import image_digest

__all__ = [
    "FAIL_MODES",
    "UNSCHEDULABLE_MESSAGE",
    "FakeCluster",
    "Settings",
    "image_digest",
    "kubeconfig_document",
    "running_cluster",
]
