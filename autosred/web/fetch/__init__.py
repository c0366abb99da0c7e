"""Fetching one URL for a model: the URL parsed once (urls.py), the SSRF guard's policy
(addresses.py) and its check and pin on every hop (guard.py), robots.txt (robots.py,
robotsgate.py), one GET per hop through curl_cffi (client.py), the body classified and
decoded (content.py), HTML turned into Markdown (extract.py) in worker processes
(worker.py)."""
