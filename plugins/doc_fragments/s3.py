# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """How a module reaches S3 (MinIO): module_utils/s3_sync/client.py (make_reader, make_client)."""

    DOCUMENTATION = r"""
options:
  endpoint_url:
    description: S3 endpoint URL, for example C(https://minio.example.com:9000). Omit for AWS S3.
    type: str
  access_key:
    description: Access key ID. Defaults to the environment variable C(AWS_ACCESS_KEY_ID).
    type: str
  secret_key:
    description: Secret access key. Defaults to the environment variable C(AWS_SECRET_ACCESS_KEY).
    type: str
  session_token:
    description: Session token. Defaults to the environment variable C(AWS_SESSION_TOKEN).
    type: str
  region:
    description: Region of the bucket.
    type: str
    default: us-east-1
  ca_bundle:
    description: CA bundle (PEM) to verify the endpoint's TLS certificate.
    type: path
  validate_certs:
    description: Verify the endpoint's TLS certificate. Leave on; use I(ca_bundle) for a private CA.
    type: bool
    default: true
"""
