"""What every area shares: settings, money, time, the rules' vocabulary, user errors, batching."""
