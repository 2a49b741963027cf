"""Training data and trainers: step rows, teachers, trajectory synthesis and filtering, SFT, Step-GRPO."""
