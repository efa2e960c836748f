"""MFT Gateway S3 integration (issue 14): folders bridged through the tenant's S3 bucket."""
