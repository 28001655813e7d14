"""One-click medical record copies (一键式病案服务): archive sync, applications, review, copies."""
