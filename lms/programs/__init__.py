"""Training programs and their sessions: trainers, registration (groups and learners), the
group -> session cascade (R2-R5), the session invitation email and the learner's answer."""
